"""The wide part of a wide-and-deep classifier: a linear model over the review's word and
word-pair counts (TF-IDF weighted), fitted to convergence beside the BiLSTM and averaged
with it.

Why: the BiLSTM and a linear bag of n-grams get different reviews right (docs/experiments.md,
rounds 3, 7 and 8): the network reads order and negation within a 20,000-word vocabulary,
the linear model memorizes 200,000 rare words and fixed phrases. Averaging the two, with
the linear model's share chosen on validation, scored above either alone in every
measurement; an n-gram branch trained inside the network for two epochs did not.

Features come from the network's own tokens (:func:`~sentiment_model.model.text.tokenize`)
with Arrow kernels: no second tokenizer and no Python loop per review."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from sentiment_model.core.errors import ConfigError

#: The wide part's file in a registry version folder and in an export folder.
WIDE_FILE = "wide.npz"
#: Smallest probability whose logarithm the stacked combiner takes (a part's 0 stays finite).
PROBABILITY_FLOOR = 1e-7
#: Rows scored at once: bounds the terms and the sparse matrix (~120 non-zeros a review)
#: in memory (~60 MB at this size); each chunk also pays ~15 ms to hash the 200K terms.
SCORE_CHUNK = 8_192


def ngram_terms(token_lists: pa.ListArray) -> tuple[pa.Array, np.ndarray]:
    """Every review's words and adjacent word pairs ("not good") as strings, with the row
    each came from."""
    words = pc.list_flatten(token_lists)
    rows = np.asarray(pc.list_parent_indices(token_lists).to_numpy(zero_copy_only=False), dtype=np.int32)
    if len(words) < 2:
        return words.cast(pa.string()), rows
    same_review = pa.array(rows[:-1] == rows[1:])
    pairs = pc.binary_join_element_wise(words.slice(0, len(words) - 1).filter(same_review), words.slice(1).filter(same_review), " ")
    return pa.concat_arrays([words.cast(pa.string()), pairs.cast(pa.string())]), np.concatenate([rows, rows[:-1][np.asarray(same_review)]])


def count_matrix(term_ids: np.ndarray, rows: np.ndarray, n_rows: int, n_terms: int) -> sp.csr_matrix:
    """(review, term) counts; ``term_ids`` < 0 (not in the vocabulary) are skipped."""
    known = term_ids >= 0
    matrix = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32), (rows[known], term_ids[known])), shape=(n_rows, n_terms))
    matrix.sum_duplicates()
    return matrix


def tfidf_rows(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF (1 + ln count) times IDF, each row scaled to unit length (an empty
    review stays all zeros)."""
    weighted = counts.copy()
    weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices]
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    return sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ weighted


def select_terms(token_lists: pa.ListArray, max_terms: int, min_reviews: int = 2) -> tuple[pa.Array, np.ndarray]:
    """The terms in at least ``min_reviews`` reviews (the ``max_terms`` in most reviews;
    ties by the term itself, so the choice does not depend on row order) and their
    smoothed IDF, ln((1 + n) / (1 + reviews with the term)) + 1."""
    terms, rows = ngram_terms(token_lists)
    encoded = pc.dictionary_encode(terms)
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    vocabulary = encoded.dictionary
    pairs = np.unique(rows.astype(np.int64) * len(vocabulary) + codes)  # int64: rows x terms overflows int32
    document_frequency = np.bincount(pairs % len(vocabulary), minlength=len(vocabulary))
    candidates = np.flatnonzero(document_frequency >= min_reviews)
    names = np.asarray(vocabulary.take(pa.array(candidates)).to_pylist(), dtype=object)
    order = np.lexsort((names, -document_frequency[candidates]))[:max_terms]
    idf = np.log((1.0 + len(token_lists)) / (1.0 + document_frequency[candidates[order]])) + 1.0
    return pa.array(names[order].tolist(), type=pa.string()), idf.astype(np.float32)


def review_lengths(token_lists: pa.ListArray) -> np.ndarray:
    """ln(1 + tokens) of each review: the length a length-aware combiner reads."""
    counts = pc.fill_null(pc.list_value_length(token_lists), 0).to_numpy(zero_copy_only=False)
    return np.log1p(np.asarray(counts, dtype=np.float64))


def stack_features(network_probabilities: np.ndarray, wide_probabilities: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Both parts' log-probabilities side by side and a constant 1: the rows a stacked
    combiner's matrix multiplies. With ``lengths`` (each review's standardized
    :func:`review_lengths`), also the log-probabilities times the length and the length
    itself, before the 1: each part's weight then moves with the review's length."""
    logs = np.hstack([np.log(np.maximum(p, PROBABILITY_FLOOR)) for p in (network_probabilities, wide_probabilities)])
    ones = np.ones((len(network_probabilities), 1))
    if lengths is None:
        return np.hstack([logs, ones])
    z = np.asarray(lengths, dtype=np.float64)[:, None]
    return np.hstack([logs, logs * z, z, ones])


def stacked_probabilities(network_probabilities: np.ndarray, wide_probabilities: np.ndarray, combiner: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """softmax(:func:`stack_features` @ ``combiner``): a multinomial logistic regression
    over the two parts' log-probabilities (and, with ``lengths``, their products with the
    review's standardized length)."""
    scores = stack_features(network_probabilities, wide_probabilities, lengths) @ combiner
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (scores / scores.sum(axis=1, keepdims=True)).astype(np.float32)


def combiner_rows(classes: int, by_length: bool) -> int:
    """Rows of a stacked combiner's matrix: 2 x classes log-probabilities and the
    intercept, and with the length 2 x classes products and the length itself."""
    return 4 * classes + 2 if by_length else 2 * classes + 1


@dataclass(frozen=True)
class WideNgrams:
    """A fitted linear model over TF-IDF word and word-pair features, and how its class
    probabilities combine with the network's: a stacked ``combiner``
    (:func:`combiner_rows` x classes, :func:`stacked_probabilities`) when it has one, else
    the average ``(1 - share) * network + share * wide``. A length-aware combiner also
    has ``length_norm``: the mean and standard deviation of :func:`review_lengths` over
    the validation split it was fitted on, which standardize a review's length."""

    terms: pa.Array  # strings, in Arrow: 200K Python strings would hold ~14 MB more
    idf: np.ndarray  # (terms,)
    coef: np.ndarray  # (terms, classes)
    intercept: np.ndarray  # (classes,)
    share: float = 0.0
    combiner: np.ndarray | None = None
    length_norm: tuple[float, float] | None = None

    @classmethod
    def fit(cls, token_lists: pa.ListArray, labels: np.ndarray, *, max_terms: int, c: float, seed: int, min_reviews: int = 2) -> WideNgrams:
        """The terms of :func:`select_terms` and a class-balanced logistic regression on
        their TF-IDF rows (``max_terms``, ``c``, ``seed``: TrainConfig's wide_terms, wide_c, seed)."""
        from sklearn.linear_model import LogisticRegression

        terms, idf = select_terms(token_lists, max_terms, min_reviews)
        untrained = cls(terms, idf, np.zeros((len(terms), 0), dtype=np.float32), np.zeros(0, dtype=np.float32))
        model = LogisticRegression(class_weight="balanced", C=c, max_iter=2_000, random_state=seed).fit(untrained.features(token_lists), labels)
        if len(model.classes_) != int(labels.max()) + 1:
            raise ValueError(f"the wide model needs every class in training, got {model.classes_.tolist()}")
        return cls(terms, idf, model.coef_.T.astype(np.float32), model.intercept_.astype(np.float32))

    def features(self, token_lists: pa.ListArray) -> sp.csr_matrix:
        terms, rows = ngram_terms(token_lists)
        ids = pc.index_in(terms, value_set=self.terms)
        term_ids = np.asarray(pc.fill_null(ids, -1).to_numpy(zero_copy_only=False), dtype=np.int32)
        return tfidf_rows(count_matrix(term_ids, rows, len(token_lists), len(self.terms)), self.idf)

    def predict_proba(self, token_lists: pa.ListArray) -> np.ndarray:
        """Class probabilities (softmax of the linear scores), ``SCORE_CHUNK`` rows at a time."""
        out = np.empty((len(token_lists), len(self.intercept)), dtype=np.float32)
        for start in range(0, len(token_lists), SCORE_CHUNK):
            scores = self.features(token_lists.slice(start, SCORE_CHUNK)) @ self.coef + self.intercept
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            out[start : start + len(scores)] = scores / scores.sum(axis=1, keepdims=True)
        return out

    def blend(self, network_probabilities: np.ndarray, token_lists: pa.ListArray) -> np.ndarray:
        """The network's probabilities combined with this model's: stacked, or averaged by
        ``share``."""
        if self.combiner is not None:
            return stacked_probabilities(network_probabilities, self.predict_proba(token_lists), self.combiner, self.standardized_lengths(token_lists))
        if self.share == 0.0:
            return network_probabilities
        return ((1.0 - self.share) * network_probabilities + self.share * self.predict_proba(token_lists)).astype(np.float32)

    def standardized_lengths(self, token_lists: pa.ListArray) -> np.ndarray | None:
        """Each review's length as a length-aware combiner reads it; None for a combiner
        without length terms."""
        if self.length_norm is None:
            return None
        center, scale = self.length_norm
        return (review_lengths(token_lists) - center) / scale

    def with_share(self, share: float) -> WideNgrams:
        return replace(self, share=float(share), combiner=None, length_norm=None)

    def with_combiner(self, combiner: np.ndarray, length_norm: tuple[float, float] | None = None) -> WideNgrams:
        norm = None if length_norm is None else (float(length_norm[0]), float(length_norm[1]))
        return replace(self, share=0.0, combiner=np.asarray(combiner, dtype=np.float32), length_norm=norm)

    def to_bytes(self) -> bytes:
        """An ``.npz`` (no pickles): the terms as newline-joined UTF-8 (a token never holds
        whitespace), the arrays, the share and the combiner and its length norm (when
        there are)."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            terms=np.frombuffer("\n".join(self.terms.to_pylist()).encode("utf-8"), dtype=np.uint8),
            idf=self.idf,
            coef=self.coef,
            intercept=self.intercept,
            share=np.asarray(self.share, dtype=np.float64),
            **({} if self.combiner is None else {"combiner": self.combiner}),
            **({} if self.length_norm is None else {"length_norm": np.asarray(self.length_norm, dtype=np.float64)}),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> WideNgrams:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            text = arrays["terms"].tobytes().decode("utf-8")
            # Split by Arrow: no Python string per term.
            terms = pc.split_pattern(pa.array([text]), "\n").flatten() if text else pa.array([], type=pa.string())
            combiner = arrays["combiner"] if "combiner" in arrays.files else None  # files before round 12 average
            # Round 12's combiners have no length terms.
            norm = tuple(float(v) for v in arrays["length_norm"]) if "length_norm" in arrays.files else None
            if norm is not None and (len(norm) != 2 or not norm[1] > 0):
                raise ValueError(f"inconsistent wide model: length norm {list(norm)}")
            wide = cls(terms, arrays["idf"], arrays["coef"], arrays["intercept"], float(arrays["share"]), combiner, norm)
        classes = len(wide.intercept)
        if not (len(wide.terms) == len(wide.idf) == len(wide.coef)) or wide.coef.shape[1] != classes:
            raise ValueError(f"inconsistent wide model: {len(wide.terms)} terms, idf {wide.idf.shape}, coef {wide.coef.shape}, intercept {wide.intercept.shape}")
        if combiner is not None and combiner.shape != (combiner_rows(classes, wide.length_norm is not None), classes):
            raise ValueError(f"inconsistent wide model: combiner {combiner.shape} for {classes} classes{' by length' if wide.length_norm else ''}")
        return wide

    @classmethod
    def read(cls, path: Path, where: str | None = None) -> WideNgrams:
        """A saved wide part (registry or export folder), or a :class:`ConfigError` naming
        ``where`` it came from (default: ``path``)."""
        try:
            return cls.from_bytes(path.read_bytes())
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # a truncated .npz is a bad zip
            raise ConfigError(f"cannot load {where or path}: {exc}: the file is damaged or truncated") from None
