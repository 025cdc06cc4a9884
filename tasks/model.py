"""Prefect tasks for the model: training data, train, evaluate, register, gate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from sentiment_model.baseline import TfidfBaseline
from sentiment_model.classifier import SentimentClassifier
from sentiment_model.data import add_labels, reviews_before, split_train_validation_test, stratified_sample
from sentiment_model.datasets import current_snapshot, read_canonical
from sentiment_model.layout import DataRoot
from sentiment_model.metrics import bootstrap_macro_f1, classification_metrics, comparison_line, star_metrics
from sentiment_model.monitoring import training_reference
from sentiment_model.registry import ChampionChanged, load_classifier, new_version, promote, promotion_decision, read_champion, save_model
from sentiment_model.schema import LABELS
from sentiment_model.train import RetrainConfig, TrainConfig, TrainResult, star_ids, texts_and_labels, train_classifier
from tasks.retry import transient_storage_error


@task(name="load-labelled-splits", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def load_labelled_splits(root: DataRoot, config: RetrainConfig) -> tuple[dict[str, pa.Table], dict[str, Any]]:
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
    get_run_logger().info("splits: %s", fingerprint["split_sizes"])
    return splits, fingerprint


@task(name="train-bilstm", cache_policy=NONE)
def train_bilstm(splits: dict[str, pa.Table], config: TrainConfig) -> TrainResult:
    logger = get_run_logger()
    return train_classifier(splits["train"], splits["validation"], config, log=logger.info)


@task(name="evaluate-on-test", cache_policy=NONE)
def evaluate_on_test(classifier: SentimentClassifier, splits: dict[str, pa.Table]) -> tuple[dict[str, Any], np.ndarray]:
    """Test metrics and the test predictions (for the paired comparison)."""
    texts, labels = texts_and_labels(splits["test"])
    ids, lengths = classifier.encode(texts)
    probabilities = classifier.predict_proba_ids(ids, lengths)
    predictions = classifier.decide(probabilities)
    metrics = classification_metrics(labels, probabilities, predictions)
    stars = classifier.predict_star_proba_ids(ids, lengths)
    if stars is not None:  # a one-class-per-star model: judged on its fold, its stars reported too
        metrics["stars"] = star_metrics(star_ids(splits["test"]), stars)
    return metrics, predictions


@task(name="fit-tfidf-baseline", cache_policy=NONE)
def fit_tfidf_baseline(splits: dict[str, pa.Table], seed: int) -> tuple[dict[str, Any], np.ndarray]:
    """TF-IDF + logistic regression on exactly the same train/test rows."""
    texts, labels = texts_and_labels(splits["train"])
    baseline = TfidfBaseline.fit(texts, labels, seed)
    test_texts, test_labels = texts_and_labels(splits["test"])
    probabilities = baseline.predict_proba(test_texts)
    return classification_metrics(test_labels, probabilities), probabilities.argmax(1)


@task(name="compare-with-baseline", cache_policy=NONE)
def compare_with_baseline(splits: dict[str, pa.Table], predictions: np.ndarray, baseline_predictions: np.ndarray, resamples: int) -> dict[str, Any]:
    """Both macro-F1s with bootstrap intervals and the paired interval of the difference,
    plus the plain sentence the summary, the artifact and the demo print."""
    _, labels = texts_and_labels(splits["test"])
    comparison = bootstrap_macro_f1(labels, predictions, baseline_predictions, resamples=resamples)
    comparison["line"] = comparison_line(comparison)
    return comparison


@task(name="input-reference", cache_policy=NONE)
def input_reference(classifier: SentimentClassifier, splits: dict[str, pa.Table]) -> dict[str, Any]:
    """What each night's report compares with: input statistics of the training texts and
    the model's class-probability histograms on the validation split."""
    train_texts, _ = texts_and_labels(splits["train"])
    validation_texts, _ = texts_and_labels(splits["validation"])
    return training_reference(train_texts, classifier.vocabulary, classifier.max_length, classifier.predict_proba(validation_texts), LABELS)


@task(name="register-model", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def register_model(root: DataRoot, result: TrainResult, config: RetrainConfig, metrics: dict[str, Any], fingerprint: dict[str, Any], input_reference: dict[str, Any]) -> str:
    fingerprint = {**fingerprint, "input_reference": input_reference}
    version = new_version(fingerprint)
    saved = {"train": config.train.to_dict(), "retrain": config.model_dump(mode="json", exclude={"train"}), "model": result.extra["model_config"]}
    save_model(root, version, result.classifier, saved, metrics, fingerprint)
    get_run_logger().info("registered model %s", version)
    return version


@task(name="promotion-gate", cache_policy=NONE)
def promotion_gate(root: DataRoot, version: str, splits: dict[str, pa.Table], tolerance: float) -> dict[str, Any]:
    """Re-load the challenger from the registry (a corrupt artifact fails here, never
    becomes champion), score champion and challenger on the same test split, and
    promote only if the challenger is not worse."""
    logger = get_run_logger()
    texts, labels = texts_and_labels(splits["test"])
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


@task(name="publish-model-artifacts", cache_policy=NONE)
def publish_model_artifacts(root: DataRoot, version: str, metrics: dict[str, Any], decision: dict[str, Any]) -> None:
    bilstm, baseline = metrics["test"], metrics["baseline_tfidf_lr"]
    rows = []
    for name, m in (("BiLSTM", bilstm), ("TF-IDF + LR", baseline)):
        rows.append(
            {
                "model": name,
                "macro_f1": round(m["macro_f1"], 4),
                "accuracy": round(m["accuracy"], 4),
                "weighted_f1": round(m["weighted_f1"], 4),
                **{f"f1_{k}": round(v["f1"], 4) for k, v in m["per_class"].items()},
            }
        )
    create_table_artifact(key="retrain-metrics", table=rows, description=f"Test split metrics, model {version}")
    matrix = "\n".join("| " + LABELS[i] + " | " + " | ".join(str(c) for c in row) + " |" for i, row in enumerate(bilstm["confusion_matrix"]))
    create_markdown_artifact(
        key="retrain-summary",
        markdown=(
            f"# Model {version}\n\n"
            f"- {metrics['comparison_with_baseline']['line']}\n"
            f"- promotion: {decision['reason']}\n\n"
            "| true \\ predicted | " + " | ".join(LABELS) + " |\n|---|---|---|---|\n" + matrix + "\n"
        ),
    )
    png = root.uri(root.model_file(root.models_dir(version), "confusion_matrix.png"))
    create_link_artifact(link=png if "://" in png else f"file://{png}", link_text="confusion matrix (PNG)", key="retrain-confusion-matrix")
