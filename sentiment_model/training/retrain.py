"""The retrain job's steps that are not training itself: which rows a retrain learns from
(and the fingerprint saved with the model), and the promotion gate."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import LABELS
from sentiment_model.ingest.canonical import current_snapshot, read_canonical
from sentiment_model.model.registry import ChampionChanged, load_classifier, promote, promotion_decision, read_champion
from sentiment_model.training.config import RetrainConfig
from sentiment_model.training.data import add_labels, reviews_before, split_train_validation_test, stratified_sample, texts_and_labels
from sentiment_model.training.metrics import classification_metrics

log = logging.getLogger(__name__)


def labelled_splits(root: DataRoot, config: RetrainConfig) -> tuple[dict[str, pa.Table], dict[str, Any]]:
    """Canonical reviews (only those dated before ``train_before``, if set) -> labels ->
    split (after dedup) -> optional stratified subsample of the training split.
    Validation and test are fixed by ``split_seed``."""
    snapshot = current_snapshot(root)
    canonical = read_canonical(root)
    if config.train_before is not None:
        canonical = reviews_before(canonical, config.train_before)
    labelled = add_labels(canonical)
    split_seed, seed, sample_size = config.split_seed, config.train.seed, config.sample_size
    splits = split_train_validation_test(labelled, seed=split_seed)
    if sample_size and sample_size < splits["train"].num_rows:
        splits["train"] = stratified_sample(splits["train"], n=sample_size, seed=seed)
    fingerprint = {
        "train_before": None if config.train_before is None else config.train_before.isoformat(),
        "canonical_run_id": snapshot["run_id"],
        "canonical_rows": labelled.num_rows,
        "ingest_report": snapshot.get("report"),
        "sources": sorted(pc.unique(labelled.column("source")).to_pylist()),
        "split_seed": split_seed,
        "sample_seed": seed,
        "sample_size": sample_size,
        "split_sizes": {name: t.num_rows for name, t in splits.items()},
        "class_counts": {name: {label: int(c) for label, c in zip(LABELS, np.bincount(t.column("label_id").to_numpy(), minlength=3), strict=True)} for name, t in splits.items()},
    }
    return splits, fingerprint


def promotion_gate(root: DataRoot, version: str, test: pa.Table, tolerance: float, logger: logging.Logger | logging.LoggerAdapter = log) -> dict[str, Any]:
    """Re-load the challenger from the registry (a corrupt artifact fails here, never
    becomes champion), score champion and challenger on the same test split, and
    promote only if the challenger is not worse."""
    texts, labels = texts_and_labels(test)
    challenger = load_classifier(root, version)
    challenger_probabilities = challenger.predict_proba(texts)
    challenger_f1 = classification_metrics(labels, challenger_probabilities, challenger.decide(challenger_probabilities))["macro_f1"]
    champion = read_champion(root)
    champion_f1 = None
    if champion is not None:
        try:
            incumbent = load_classifier(root, "champion")
            probabilities = incumbent.predict_proba(texts)
            champion_f1 = classification_metrics(labels, probabilities, incumbent.decide(probabilities))["macro_f1"]
        except Exception as exc:  # noqa: BLE001 - a broken champion should be replaced, and said so
            logger.warning("champion %s cannot be scored (%s); treating it as absent", champion.get("version"), exc)
    promoted, reason = promotion_decision(challenger_f1, champion_f1, tolerance)
    pointer = None
    if promoted:
        try:
            pointer = promote(root, version, challenger_f1, reason, expected_champion=champion["version"] if champion else None)
        except ChampionChanged as exc:  # another retrain promoted first: this decision was against the old champion
            promoted, reason, champion = False, str(exc), read_champion(root)
    logger.info("model %s: %s", version, reason)
    return {"version": version, "promoted": promoted, "reason": reason, "challenger_macro_f1": challenger_f1, "champion_macro_f1": champion_f1, "champion": pointer or champion}
