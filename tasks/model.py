"""Prefect tasks for the model: training data, train, evaluate, register, gate.

Keras and scikit-learn load inside the tasks that use them: Prefect imports this module
(through the retrain flow) to validate a run's parameters and to deploy the flows, which
then takes seconds instead of TensorFlow's load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import LABELS
from sentiment_model.model.registry import new_version, save_model
from sentiment_model.reporting.charts import confusion_png
from sentiment_model.reporting.monitoring import training_reference
from sentiment_model.training.config import RetrainConfig, TrainConfig
from sentiment_model.training.data import star_ids, texts_and_labels
from sentiment_model.training.metrics import bootstrap_macro_f1, classification_metrics, comparison_line, star_metrics
from sentiment_model.training.retrain import labelled_splits
from sentiment_model.training.retrain import promotion_gate as gate
from tasks.retry import transient_storage_error

if TYPE_CHECKING:
    from sentiment_model.model.classifier import SentimentClassifier
    from sentiment_model.training.train import TrainResult

CONFUSION_FIGURE = "confusion_matrix.png"  # beside the model: the test split's confusion matrix


@task(name="load-labelled-splits", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def load_labelled_splits(root: DataRoot, config: RetrainConfig) -> tuple[dict[str, pa.Table], dict[str, Any]]:
    """The rows a retrain learns from, and their fingerprint (`training.retrain.labelled_splits`)."""
    splits, fingerprint = labelled_splits(root, config)
    get_run_logger().info("splits: %s", fingerprint["split_sizes"])
    return splits, fingerprint


@task(name="train-bilstm", cache_policy=NONE)
def train_bilstm(splits: dict[str, pa.Table], config: TrainConfig) -> TrainResult:
    from sentiment_model.training.train import train_classifier

    logger = get_run_logger()
    return train_classifier(splits["train"], splits["validation"], config, log=logger.info)


@task(name="evaluate-on-test", cache_policy=NONE)
def evaluate_on_test(classifier: SentimentClassifier, splits: dict[str, pa.Table]) -> tuple[dict[str, Any], np.ndarray]:
    """Test metrics and the test predictions (for the paired comparison)."""
    texts, labels = texts_and_labels(splits["test"])
    ids, lengths, words = classifier.encode_with_tokens(texts)
    probabilities = classifier.with_wide(classifier.predict_proba_ids(ids, lengths), words)
    predictions = classifier.decide(probabilities)
    metrics = classification_metrics(labels, probabilities, predictions)
    stars = classifier.predict_star_proba_ids(ids, lengths)
    if stars is not None:  # a one-class-per-star model: judged on its fold, its stars reported too
        metrics["stars"] = star_metrics(star_ids(splits["test"]), stars)
    return metrics, predictions


@task(name="fit-tfidf-baseline", cache_policy=NONE)
def fit_tfidf_baseline(splits: dict[str, pa.Table], seed: int) -> tuple[dict[str, Any], np.ndarray]:
    """TF-IDF + logistic regression on exactly the same train/test rows."""
    from sentiment_model.training.baseline import TfidfBaseline

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
    probabilities = classifier.predict_proba(validation_texts)
    return training_reference(train_texts, classifier.vocabulary, classifier.max_length, probabilities, LABELS, classifier.decide(probabilities))


@task(name="register-model", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def register_model(root: DataRoot, result: TrainResult, config: RetrainConfig, metrics: dict[str, Any], fingerprint: dict[str, Any], input_reference: dict[str, Any]) -> str:
    fingerprint = {**fingerprint, "input_reference": input_reference}
    version = new_version(fingerprint)
    saved = {"train": config.train.to_dict(), "retrain": config.model_dump(mode="json", exclude={"train"}), "model": result.extra["model_config"]}
    confusion = confusion_png(np.asarray(metrics["test"]["confusion_matrix"]), LABELS, f"BiLSTM {version} (test split)")
    save_model(root, version, result.classifier, saved, metrics, fingerprint, figures={CONFUSION_FIGURE: confusion})
    get_run_logger().info("registered model %s", version)
    return version


@task(name="promotion-gate", cache_policy=NONE)
def promotion_gate(root: DataRoot, version: str, splits: dict[str, pa.Table], tolerance: float) -> dict[str, Any]:
    """Promote the challenger only if it is not worse than the champion on the test split."""
    return gate(root, version, splits["test"], tolerance, logger=get_run_logger())


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
    side = metrics.get("teacher")
    if side is not None:  # a student of the teacher: the four models side by side
        differences = side["difference_from_tfidf_lr"]
        table = [{"model": name, "test_macro_f1": round(value, 4), "vs TF-IDF+LR": _difference(differences.get(name))} for name, value in side["test_macro_f1"].items()]
        create_table_artifact(key="retrain-teacher-student", table=table, description=f"Teacher, student, network alone and TF-IDF+LR on the test split, model {version}")
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
    png = root.uri(root.model_file(root.models_dir(version), CONFUSION_FIGURE))
    create_link_artifact(link=png if "://" in png else f"file://{png}", link_text="confusion matrix (PNG)", key="retrain-confusion-matrix")


def _difference(row: dict[str, Any] | None) -> str:
    """``+0.0123 (+0.0040 .. +0.0210), better``; empty for the reference itself."""
    if row is None:
        return ""
    low, high = row["ci"]
    return f"{row['difference']:+.4f} ({low:+.4f} .. {high:+.4f}), {row['verdict']}"
