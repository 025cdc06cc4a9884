"""The speed benchmarks that run in this process: ingest (vs pandas), tokenize (vs Keras
and the seed's Tokenizer) and one training epoch (vs the seed's recurrent dropout)."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.common import SHARED_AMAZON, labelled_splits, median_seconds, shared_root


def _replicate_gzip(source: Path, target: Path, copies: int) -> None:
    with gzip.open(source, "rb") as handle:
        data = handle.read()
    with gzip.open(target, "wb", compresslevel=6) as out:
        for _ in range(copies):
            out.write(data if data.endswith(b"\n") else data + b"\n")


def ingest(quick: bool = False) -> dict[str, Any]:
    """Raw gzip JSON lines and CSV -> canonical Parquet: this project vs pandas, same files."""
    import pandas as pd

    from sentiment_model.core.layout import DataRoot
    from sentiment_model.ingest.pipeline import ingest_file
    from sentiment_model.ingest.sources import build_spec

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    copies = 2 if quick else 10
    inputs = {
        "json_lines": (SHARED_AMAZON / "mcauley2014_json" / "cell_phones_and_accessories_5core_first4776.jsonl.gz", {"preset": "mcauley_json"}),
        "csv": (SHARED_AMAZON / "snap2013_finefoods_csv" / "Reviews_first5000.csv.gz", {"preset": "snap2013_csv"}),
    }
    rows = []
    repeats = 1 if quick else 3
    for kind, (source, entry) in inputs.items():
        path = work / f"big.{kind}.gz"
        if kind == "csv":
            with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
                header, *body = handle.read().splitlines(keepends=True)
            with gzip.open(path, "wt", encoding="utf-8", newline="") as out:
                out.write(header)
                for _ in range(copies):
                    out.writelines(body)
        else:
            _replicate_gzip(source, path, copies)
        megabytes = path.stat().st_size / 1e6
        spec = build_spec({"name": kind, "uri": str(path), **entry})

        def ours(spec=spec, path=path) -> int:
            root = DataRoot(tempfile.mkdtemp(dir=work))
            result = ingest_file(root, "bench", spec, str(path), 0, ingested_at=dt.datetime.now(dt.UTC))
            return result.records_read

        def pandas_pipeline(path=path, kind=kind) -> int:
            frame = pd.read_json(path, lines=True) if kind == "json_lines" else pd.read_csv(path)
            frame.to_parquet(work / f"pandas.{kind}.parquet")
            return len(frame)

        ours_s, ours_all, records = median_seconds(ours, repeats)
        pandas_s, pandas_all, _ = median_seconds(pandas_pipeline, repeats)
        rows.append(
            {
                "input": kind,
                "file_mb_gzip": megabytes,
                "records": records,
                "ours_seconds": ours_s,
                "ours_mb_per_s": megabytes / ours_s,
                "ours_reviews_per_s": records / ours_s,
                "pandas_seconds": pandas_s,
                "pandas_mb_per_s": megabytes / pandas_s,
                "speedup_vs_pandas": pandas_s / ours_s,
                "ours_runs": ours_all,
                "pandas_runs": pandas_all,
            }
        )
    shutil.rmtree(work, ignore_errors=True)
    return {"rows": rows, "note": "ours = read + validate + normalize + quarantine + review_id + Parquet (staging write); pandas = read + to_parquet only"}


def _texts(n: int) -> list[str]:
    from sentiment_model.ingest.canonical import read_canonical
    from sentiment_model.model.text import review_text

    table = read_canonical(shared_root(), columns=["title", "text"])
    texts = review_text(table.column("title"), table.column("text")).to_pylist()
    return (texts * (n // len(texts) + 1))[:n]


def tokenize(n: int = 100_000, quick: bool = False) -> dict[str, Any]:
    """Reviews/s to right-padded ids: ours vs Keras TextVectorization vs the seed's Tokenizer."""
    import keras

    from benchmarks.seed_style import LegacyTokenizer, seed_sequences
    from sentiment_model.model.text import Vocabulary
    from sentiment_model.model.text import tokenize as our_tokenize
    from sentiment_model.training.train import TrainConfig

    head = TrainConfig().truncation_head  # the cut the default model reads (kept_positions)
    n = 20_000 if quick else n
    texts = _texts(n)
    array = pa.array(texts)
    repeats = 1 if quick else 3
    vocab = Vocabulary.build(our_tokenize(array), 20_000, 2)
    legacy = LegacyTokenizer(20_000)
    legacy.fit_on_texts(texts)
    vectorizer = keras.layers.TextVectorization(max_tokens=20_000, output_sequence_length=200)
    vectorizer.adapt(texts[:20_000])
    ours_s, ours_all, _ = median_seconds(lambda: vocab.encode(array, 200, head), repeats)
    first_s, first_all, _ = median_seconds(lambda: vocab.encode(array, 200), repeats)
    legacy_s, legacy_all, _ = median_seconds(lambda: seed_sequences(legacy, texts, 200), repeats)
    textvec_s, textvec_all, _ = median_seconds(lambda: np.asarray(vectorizer(texts)), repeats)
    return {
        "reviews": n,
        "rows": [
            {"tokenizer": f"ours (pyarrow kernels, right-padded; the default cut, truncation_head={head})", "seconds": ours_s, "reviews_per_s": n / ours_s, "runs": ours_all},
            {"tokenizer": "ours, a long review's first 200 tokens (models before round 14)", "seconds": first_s, "reviews_per_s": n / first_s, "runs": first_all},
            {"tokenizer": "Keras TextVectorization (TF string ops)", "seconds": textvec_s, "reviews_per_s": n / textvec_s, "runs": textvec_all},
            {"tokenizer": "seed: Keras 2 Tokenizer + pad_sequences", "seconds": legacy_s, "reviews_per_s": n / legacy_s, "runs": legacy_all},
        ],
        "speedup_vs_seed": legacy_s / ours_s,
        "speedup_vs_textvectorization": textvec_s / ours_s,
    }


def training(samples: int = 4_000, quick: bool = False) -> dict[str, Any]:
    """Samples/s per epoch on CPU: recurrent_dropout=0 (the fused cuDNN-capable config) vs
    the seed's 0.2, same network (Embedding 128 -> BiLSTM 128 -> softmax), same bucketed
    batches; each timed on its second epoch, after a full warm-up epoch traced every shape."""
    import keras

    from benchmarks.seed_style import seed_model
    from sentiment_model.model.batching import BucketedSequence
    from sentiment_model.model.text import Vocabulary
    from sentiment_model.model.text import tokenize as our_tokenize
    from sentiment_model.training.data import stratified_sample, texts_and_labels

    samples = 1_000 if quick else samples
    train = stratified_sample(labelled_splits()["train"], n=samples, seed=1)
    texts, y = texts_and_labels(train)
    vocab = Vocabulary.build(our_tokenize(texts), 20_000, 1)
    ids, lengths = vocab.encode(texts, 200)
    rows = []
    for name, recurrent_dropout in (("recurrent_dropout=0 (fused-capable)", 0.0), ("seed: recurrent_dropout=0.2", 0.2)):
        model = seed_model(len(vocab), recurrent_dropout=recurrent_dropout, one_hot=True)
        batches = BucketedSequence(ids, lengths, y, np.ones(len(y)), 64)
        model.fit(batches, epochs=1, verbose=0)  # traces every bucket width
        started = time.perf_counter()
        model.fit(batches, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        rows.append({"config": name, "device": "CPU", "samples_per_s": samples / seconds, "epoch_seconds": seconds, "batch_size": 64, "units": 128, "embedding": 128})
    return {"samples": samples, "rows": rows, "backend": keras.backend.backend(), "gpu": "not measured: no GPU machine was lent to this session"}
