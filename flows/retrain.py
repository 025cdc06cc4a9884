"""Flow `retrain` (on demand, GPU work pool in production): canonical data -> split ->
train the BiLSTM -> evaluate against TF-IDF+LR -> register -> promotion gate."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.ingest import ingest
from sentiment_model.layout import DataRoot
from sentiment_model.settings import get_settings
from sentiment_model.train import TrainConfig
from tasks.model import (
    evaluate_on_test,
    fit_tfidf_baseline,
    load_labelled_splits,
    promotion_gate,
    publish_model_artifacts,
    register_model,
    train_bilstm,
)


@flow(name="retrain")
def retrain(
    data_root: str | None = None,
    sample_size: int | None = 9_000,
    epochs: int = TrainConfig.epochs,
    max_length: int = 200,
    embedding_dim: int = 128,
    lstm_units: int = 128,
    pooling: str = "attention_max",
    batch_size: int = 64,
    word2vec_epochs: int = 5,
    ensemble_size: int = TrainConfig.ensemble_size,
    imbalance: str = TrainConfig.imbalance,
    seed: int = 13,
    split_seed: int = 13,
    promotion_tolerance: float = 0.0,
    mixed_precision: bool = False,
    use_mask: bool = True,
) -> dict[str, Any]:
    """Train a challenger; promote it only if its test macro-F1 is not below the champion's.

    ``sample_size`` subsamples the training split (stratified; None = all of it);
    ``ensemble_size`` > 1 averages that many seeds; ``imbalance`` is ``none`` (prior
    correction tuned on validation only), ``class_weight`` or ``oversample``.
    On GPU workers without TensorFlow, set KERAS_BACKEND=jax (or torch) in the job's
    environment; ``use_mask=False`` with bucketed batches keeps cuDNN there.
    """
    logger = get_run_logger()
    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    if not root.exists(root.canonical_pointer()):
        logger.info("no canonical data yet under %s: ingesting first", root.uri(root.path))
        ingest(data_root=settings.data_root)

    config = TrainConfig(
        max_length=max_length, embedding_dim=embedding_dim, lstm_units=lstm_units, pooling=pooling,  # type: ignore[arg-type]
        batch_size=batch_size, epochs=epochs, word2vec_epochs=word2vec_epochs, seed=seed,
        mixed_precision=mixed_precision, use_mask=use_mask, ensemble_size=ensemble_size,
        imbalance=imbalance,  # type: ignore[arg-type]
    )
    splits, fingerprint = load_labelled_splits(root, sample_size, seed, split_seed)
    result = train_bilstm(splits, config)
    test_metrics = evaluate_on_test(result.classifier, splits)
    baseline_metrics = fit_tfidf_baseline(splits, seed)
    metrics = {
        "test": test_metrics,
        "baseline_tfidf_lr": baseline_metrics,
        "beats_baseline": test_metrics["macro_f1"] > baseline_metrics["macro_f1"],
        "validation_macro_f1": result.validation_macro_f1,
        "best_epoch": result.best_epoch,
        "history": result.history,
        "train_seconds": result.seconds,
        "train_samples_per_second": result.train_samples_per_second,
    }
    version = register_model(root, result, config, metrics, fingerprint)
    decision = promotion_gate(root, version, splits, promotion_tolerance)
    publish_model_artifacts(root, version, metrics, decision)
    logger.info(
        "model %s: test macro-F1 %.4f (TF-IDF+LR %.4f); %s",
        version, test_metrics["macro_f1"], baseline_metrics["macro_f1"], decision["reason"],
    )
    return {"version": version, "metrics": metrics, "decision": decision, "model_dir": root.uri(root.models_dir(version))}


if __name__ == "__main__":
    retrain()
