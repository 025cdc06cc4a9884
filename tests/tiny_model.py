"""The tiny champion the plumbing tests share, committed under ``tests/fixtures/tiny_model/``
so a test session loads it in a second instead of training it (issue 33: training only
where training is tested; ``tests/unit/training/`` and ``tests/unit/model/`` train).

Rebuild it after a change to the network, the registry's files or the training config:

    uv run python -m tests.tiny_model
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sentiment_model.core.layout import DataRoot
from sentiment_model.training.config import TrainConfig

VERSION = "20260101T000000Z-cafe0001"
FOLDER = Path(__file__).parent / "fixtures" / "tiny_model" / VERSION


def tiny_config(**changes: object) -> TrainConfig:
    """The tiny network's training config (16-dim word2vec, BiLSTM 8, 24 tokens of which
    the first 8 and the last 16 of a long review, as the default's 50 + 150 of 200), with
    ``changes``."""
    fields = {
        "frozen_embeddings": None,
        "embeddings": "word2vec",
        "ensemble_size": 1,
        "embedding_dim": 16,
        "lstm_units": 8,
        "epochs": 3,
        "batch_size": 32,
        "max_length": 24,
        "truncation_head": 8,
        "vocab_size": 500,
        "min_count": 1,
        "seed": 3,
    }
    return TrainConfig(**{**fields, **changes})


def train_into(root: DataRoot) -> None:
    """Train the tiny model on synthetic reviews and register it under :data:`VERSION`."""
    from sentiment_model.model.registry import save_model
    from sentiment_model.training.data import split_train_validation_test, texts_and_labels
    from sentiment_model.training.metrics import classification_metrics
    from sentiment_model.training.train import train_classifier
    from tests.conftest import synthetic_reviews

    splits = split_train_validation_test(synthetic_reviews(600, seed=4), seed=4)
    config = tiny_config(ngram_buckets=1_021)  # not 262,139: keeps the committed model.keras at ~100 KB
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    texts, labels = texts_and_labels(splits["test"])
    probabilities = result.classifier.predict_proba(texts)
    metrics = {"test": classification_metrics(labels, probabilities, result.classifier.decide(probabilities))}
    fingerprint = {"class_counts": {"train": {"negative": 150, "neutral": 120, "positive": 330}}}
    save_model(root, VERSION, result.classifier, {"train": config.to_dict()}, metrics, fingerprint)


def install(root: DataRoot) -> None:
    """Copy the committed model into ``root``'s registry and make it the champion."""
    import orjson

    from sentiment_model.model.registry import promote

    target = Path(root.path) / "models" / VERSION
    shutil.copytree(FOLDER, target)
    macro_f1 = orjson.loads((target / "metrics.json").read_bytes())["test"]["macro_f1"]
    promote(root, VERSION, macro_f1, "test fixture")


def rebuild() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = DataRoot(tmp)
        train_into(root)
        shutil.rmtree(FOLDER, ignore_errors=True)
        shutil.copytree(Path(tmp) / "models" / VERSION, FOLDER)
    print(f"wrote {FOLDER}: " + ", ".join(sorted(p.name for p in FOLDER.iterdir())))


if __name__ == "__main__":
    rebuild()
