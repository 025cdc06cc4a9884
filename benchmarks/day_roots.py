"""Temporary data roots the speed benchmarks run on: a day of real reviews (the shared
corpus, copied with new ids when more are asked for) and an untrained champion of the
default shape (speed and memory do not depend on the weights)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.common import shared_root, temporary_folder

LOAD_DAY = dt.date(2030, 1, 1)


def _save_untrained(root: Any, version: str, classifier: Any) -> None:
    """Register an untrained classifier: no training config, zero test counts."""
    from sentiment_model.model.registry import save_model

    save_model(root, version, classifier, {}, {"test": {"confusion_matrix": np.zeros((3, 3), int).tolist()}}, {"class_counts": {"train": {"negative": 1, "neutral": 1, "positive": 1}}})


def replicated_day_root(reviews: int) -> tuple[Any, Path, float]:
    """A temporary data root whose day ``LOAD_DAY`` holds ``reviews`` real reviews (the
    shared corpus copied with new ids, in 50K-row files) and whose champion is an
    untrained model of the default shape (speed and memory do not depend on the
    weights): what `default_shaped_network` and `default_shaped_wide` build from the
    training defaults. Version ``bench-network`` is the same network without the wide
    part. Returns the root, its temporary folder and the mean tokens per review."""
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.ingest.canonical import read_canonical, write_incoming_batches
    from sentiment_model.model.classifier import SentimentClassifier
    from sentiment_model.model.registry import promote
    from sentiment_model.model.text import Vocabulary, review_text
    from sentiment_model.model.text import tokenize as our_tokenize
    from sentiment_model.training.config import RetrainConfig
    from sentiment_model.training.train import default_shaped_network, default_shaped_wide

    work = temporary_folder("bench-score-")
    root = DataRoot(str(work / "root"))
    canonical = read_canonical(shared_root())
    texts = review_text(canonical.column("title"), canonical.column("text"))
    vocab = Vocabulary.build(our_tokenize(texts), 20_000, 2)
    defaults = RetrainConfig().train
    network = default_shaped_network(defaults, len(vocab))
    wide = default_shaped_wide(defaults, our_tokenize(texts))
    for version, part in (("bench", wide), ("bench-network", None)):
        classifier = SentimentClassifier(network, vocab, defaults.max_length, np.zeros(3), version=version, wide=part, truncation_head=defaults.truncation_head)
        _save_untrained(root, version, classifier)
    promote(root, "bench", 0.0, "benchmark")
    copies = reviews // canonical.num_rows + 1
    parts = []
    for copy in range(copies):
        ids = pc.binary_join_element_wise(canonical.column("review_id"), pa.scalar(f"-{copy}"), "")
        parts.append(canonical.set_column(0, "review_id", ids))
    day = pa.concat_tables(parts).slice(0, reviews)
    review_time = dt.datetime.combine(LOAD_DAY, dt.time(), dt.UTC)
    day = day.set_column(day.schema.get_field_index("review_time"), "review_time", pa.array([review_time] * reviews, pa.timestamp("s", tz="UTC")))
    write_incoming_batches(root, day, rows_per_file=50_000)
    lengths = np.diff(vocab.lookup(our_tokenize(texts))[1])
    mean_tokens = float(np.minimum(np.maximum(lengths, 1), 200).mean())
    return root, work, mean_tokens


def small_day_root() -> tuple[Any, dt.date]:
    """A small real day (2015-08-30, ~300 reviews) with an untrained default-size champion."""
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.ingest.canonical import read_canonical, write_incoming_batches
    from sentiment_model.model.classifier import SentimentClassifier
    from sentiment_model.model.network import ModelConfig, build_model
    from sentiment_model.model.registry import promote
    from sentiment_model.model.text import Vocabulary, review_text
    from sentiment_model.model.text import tokenize as our_tokenize

    day = dt.date(2015, 8, 30)
    canonical = read_canonical(shared_root())
    vocab = Vocabulary.build(our_tokenize(review_text(canonical.column("title"), canonical.column("text"))), 20_000, 2)
    root = DataRoot(str(temporary_folder("bench-orch-")))
    classifier = SentimentClassifier(build_model(ModelConfig(vocab_size=len(vocab))), vocab, 200, np.zeros(3), version="bench")
    _save_untrained(root, "bench", classifier)
    promote(root, "bench", 0.0, "benchmark")
    write_incoming_batches(root, read_canonical(shared_root(), start=day, end=day))
    return root, day


def scored_copy_of_incoming(root: Any, day: dt.date, seed: int = 0) -> int:
    """Write ``day``'s scored output without a model: probabilities drawn around each
    review's stars (so live quality and drift have something to measure), the first
    tokens as attention tokens, in the scored schema, with the day's manifest."""
    import posixpath

    import pyarrow.parquet as pq

    from sentiment_model.core.schema import LABELS, SCORED_SCHEMA
    from sentiment_model.model.text import review_text
    from sentiment_model.model.text import tokenize as our_tokenize
    from sentiment_model.scoring.batch import list_day_files

    rng = np.random.default_rng(seed)
    files, rows = [], 0
    for index, path in enumerate(list_day_files(root, day)):
        batch = pq.read_table(path)
        n = batch.num_rows
        stars = batch.column("rating").to_numpy(zero_copy_only=False).astype(int)
        label = np.where(stars <= 2, 0, np.where(stars == 3, 1, 2))
        alpha = np.ones((n, 3)) + 4 * np.eye(3)[label]
        probabilities = rng.gamma(alpha)
        probabilities = (probabilities / probabilities.sum(1, keepdims=True)).astype(np.float32)
        tokens = pc.list_slice(our_tokenize(review_text(batch.column("title"), batch.column("text"))), 0, 3)
        table = pa.table(
            {
                "review_id": batch.column("review_id"),
                "product_id": batch.column("product_id"),
                "rating": batch.column("rating"),
                "predicted_label": pa.array(np.array(LABELS, dtype=object)[probabilities.argmax(1)], pa.string()),
                "p_negative": probabilities[:, 0],
                "p_neutral": probabilities[:, 1],
                "p_positive": probabilities[:, 2],
                "predicted_stars": pa.nulls(n, pa.int8()),
                "confidence": probabilities.max(1),
                "top_tokens": tokens.cast(pa.list_(pa.string())),
                "review_date": pa.array([day] * n, pa.date32()),
                "model_version": pa.array(["bench"] * n, pa.string()),
                "scored_at": pa.array([dt.datetime(2030, 1, 1, tzinfo=dt.UTC)] * n, pa.timestamp("s", tz="UTC")),
            },
            schema=SCORED_SCHEMA,
        )
        part = root.scored_part(day, "bench", index)
        root.fs.makedirs(posixpath.dirname(part), exist_ok=True)
        pq.write_table(table, part, compression="zstd")
        files.append(posixpath.relpath(part, root.scored_dir(day)))
        rows += n
    root.write_json_atomic(root.scored_manifest(day), {"date": day.isoformat(), "run_id": "bench", "model_version": "bench", "files": files, "rows": rows, "quarantined": 0})
    return rows
