"""Flow `retrain` (on demand, GPU work pool in production): canonical data -> split ->
(optionally: fine-tune the MiniLM teacher, or find it cached) -> train the BiLSTM (the
teacher's student) -> compare with TF-IDF+LR on the same split -> register -> promotion gate."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.ingest import ingest
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import get_settings
from sentiment_model.training.config import RetrainConfig
from tasks.model import (
    compare_with_baseline,
    evaluate_on_test,
    fit_tfidf_baseline,
    input_reference,
    load_labelled_splits,
    promotion_gate,
    publish_model_artifacts,
    register_model,
    train_bilstm,
)
from tasks.teacher import fit_teacher, side_by_side, train_student_of


def retrain_run_name() -> str:
    """``retrain 2026-12-05 (reviews before 2015-08-25, sample 9,000)``: the UTC day the
    run started and the rows it learns from, so the runs list tells retrains apart."""
    started = f"retrain {dt.datetime.now(dt.UTC):%Y-%m-%d}"
    try:
        config = flow_run.parameters.get("config") or RetrainConfig()
        if not isinstance(config, RetrainConfig):
            config = RetrainConfig.model_validate(config)
    except Exception:  # never reached with validated parameters; the name must not fail the run
        return started
    rows = [f"reviews before {config.train_before}"] if config.train_before else []
    rows.append(f"sample {config.sample_size:,}" if config.sample_size else "all reviews")
    if config.train.classes != "sentiment":
        rows.append(f"classes {config.train.classes}")
    return f"{started} ({', '.join(rows)})"


@flow(name="retrain", flow_run_name=retrain_run_name)
def retrain(data_root: str | None = None, config: RetrainConfig | None = None) -> dict[str, Any]:
    """Train a challenger; say plainly whether it beats TF-IDF+LR trained on the same rows
    (with the bootstrap interval of the difference); promote it only if its test
    macro-F1 is not below the champion's.

    On GPU workers without TensorFlow, set KERAS_BACKEND=jax (or torch) in the job's
    environment; ``train.use_mask=False`` with bucketed batches keeps cuDNN there.
    """
    logger = get_run_logger()
    config = config or RetrainConfig()
    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    if not root.exists(root.canonical_pointer()):
        logger.info("no canonical data yet under %s: ingesting first", root.uri(root.path))
        ingest(data_root=settings.data_root)

    splits, fingerprint = load_labelled_splits(root, config)
    teacher = fit_teacher(root, splits, config, fingerprint) if config.student_of_teacher else None
    result = train_bilstm(splits, config.train) if teacher is None else train_student_of(root, splits, config.train, teacher)
    test_metrics, predictions = evaluate_on_test(result.classifier, splits)
    baseline_metrics, baseline_predictions = fit_tfidf_baseline(splits, config.train.seed)
    comparison = compare_with_baseline(splits, predictions, baseline_predictions, config.bootstrap_resamples)
    metrics = {
        "test": test_metrics,
        "baseline_tfidf_lr": baseline_metrics,
        "comparison_with_baseline": comparison,
        "beats_baseline": comparison["verdict"] == "better",
        "validation_macro_f1": result.validation_macro_f1,
        "best_epoch": result.best_epoch,
        "history": result.history,
        "train_seconds": result.seconds,
        "train_samples_per_second": result.train_samples_per_second,
        "training": {key: value for key, value in result.extra.items() if key != "model_config"},
    }
    if teacher is not None:
        metrics["teacher"] = side_by_side(root, teacher, result, splits, predictions, baseline_predictions, config.bootstrap_resamples)
        logger.info("test macro-F1 side by side: %s", metrics["teacher"]["test_macro_f1"])
    version = register_model(root, result, config, metrics, fingerprint, input_reference(result.classifier, splits))
    decision = promotion_gate(root, version, splits, config.promotion_tolerance)
    publish_model_artifacts(root, version, metrics, decision)
    logger.info("model %s: %s; %s", version, comparison["line"], decision["reason"])
    return {"version": version, "metrics": metrics, "decision": decision, "model_dir": root.uri(root.models_dir(version))}


if __name__ == "__main__":
    retrain()
