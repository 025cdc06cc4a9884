"""The model side of a report: what the report knows about the model that scored the day
(its fingerprint, test metrics, vocabulary, config and, for explanations, the network)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import LABELS, STAR_LABEL_IDS
from sentiment_model.model.text import Vocabulary

if TYPE_CHECKING:
    from sentiment_model.model.classifier import SentimentClassifier


def star_classes(classes: Sequence[str]) -> dict[int, str] | None:
    """The class each star rating means (1-2 / 3 / 4-5, :data:`STAR_LABEL_IDS`); None when
    the classes are not the three sentiment classes."""
    if len(classes) != len(LABELS):
        return None
    return {star: classes[label] for star, label in enumerate(STAR_LABEL_IDS, start=1)}


@dataclass
class ModelContext:
    """What the report knows about the model that scored the day. Every field may be
    missing (a model folder outside the registry has no fingerprint): the report then
    says what it cannot compare, instead of comparing with zeros."""

    version: str | None = None
    training_counts: dict[str, int] | None = None
    test_metrics: dict[str, Any] | None = None
    vocabulary: Vocabulary | None = None
    max_length: int | None = None
    training_reference: dict[str, Any] | None = None
    predict_proba: Callable[[list[str]], np.ndarray] | None = None


def _read_model_file(root: DataRoot, folder: str, name: str) -> Any | None:
    local = Path(folder, name)
    if local.is_file():
        return orjson.loads(local.read_bytes())
    path = root.model_file(folder, name)
    return root.read_json(path) if root.exists(path) else None


def model_context(root: DataRoot, model_dir: str | None, load_model: bool = True, classifier: SentimentClassifier | None = None) -> ModelContext:
    """Read a model folder's fingerprint, test metrics, vocabulary and config (and the
    network, for model-agnostic explanations, when ``load_model``; ``classifier`` is that
    network already loaded, e.g. by the night's scoring: a second copy costs memory)."""
    if not model_dir:
        return ModelContext()
    fingerprint = _read_model_file(root, model_dir, "fingerprint.json") or {}
    metrics = _read_model_file(root, model_dir, "metrics.json") or {}
    config = _read_model_file(root, model_dir, "config.json") or {}
    vocabulary = _read_model_file(root, model_dir, "vocabulary.json")
    counts = (fingerprint.get("class_counts") or {}).get("train")
    context = ModelContext(
        version=posixpath.basename(model_dir.rstrip("/")),
        training_counts=counts if counts and sum(counts.values()) > 0 else None,
        test_metrics=metrics.get("test"),
        vocabulary=Vocabulary(tuple(vocabulary["tokens"])) if vocabulary else None,
        max_length=config.get("max_length"),
        training_reference=fingerprint.get("input_reference"),
    )
    if load_model:
        from sentiment_model.model.registry import load_model_dir

        classifier = classifier or load_model_dir(root, model_dir)
        context.predict_proba = lambda texts: classifier.predict_proba(list(texts))
    return context
