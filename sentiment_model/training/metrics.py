"""Evaluation metrics: macro-F1 first (the corpus is ~78% positive, so accuracy flatters)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sentiment_model.core.schema import LABELS
from sentiment_model.model.decision import apply_offsets, confusion, macro_f1, macro_f1_of_confusions
from sentiment_model.model.wide import stack_features, stacked_probabilities


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, y_pred: np.ndarray | None = None) -> dict[str, Any]:
    """The metrics JSON: n, accuracy, macro_f1, macro_f1_present, weighted_f1, roc_auc_ovr,
    per_class.{label}.{precision,recall,f1,support}, confusion_matrix (+ normalized)."""
    from sklearn.metrics import roc_auc_score  # here, not at the top: the flows' modules import this one

    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    y_pred = probabilities.argmax(1) if y_pred is None else np.asarray(y_pred, dtype=np.int64)
    k = len(LABELS)
    matrix = confusion(y_true, y_pred, k)
    support = matrix.sum(1)
    predicted = matrix.sum(0)
    tp = np.diag(matrix).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    present = support > 0
    n = int(len(y_true))
    auc: dict[str, float | None] = {}
    for index, name in enumerate(LABELS):
        positives = y_true == index
        auc[name] = float(roc_auc_score(positives, probabilities[:, index])) if 0 < positives.sum() < n else None
    valid_auc = [v for v in auc.values() if v is not None]
    normalized = np.divide(matrix, support[:, None], out=np.zeros((k, k)), where=support[:, None] > 0)
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1.mean()),
        "macro_f1_present": float(f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / support.sum()) if support.sum() else 0.0,
        "roc_auc_ovr": float(np.mean(valid_auc)) if valid_auc else None,
        "roc_auc_per_class": auc,
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])} for i, name in enumerate(LABELS)},
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_normalized": normalized.round(4).tolist(),
        "labels": list(LABELS),
    }


def star_metrics(stars_true: np.ndarray, star_probabilities: np.ndarray) -> dict[str, float]:
    """A one-class-per-star model's finer quality: exact-star accuracy, 5-class macro-F1,
    share within one star, and mean absolute error in stars (ids 0-4 for 1-5 stars)."""
    stars_true = np.asarray(stars_true, dtype=np.int64)
    predicted = np.asarray(star_probabilities).argmax(1)
    error = np.abs(predicted - stars_true)
    n = max(len(stars_true), 1)
    return {
        "exact_accuracy": float((error == 0).sum() / n),
        "macro_f1": macro_f1(stars_true, predicted, num_classes=5),
        "within_one_star": float((error <= 1).sum() / n),
        "mean_absolute_error": float(error.sum() / n),
    }


def tune_class_offsets(probabilities: np.ndarray, y_true: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Per-class log-prior offsets that maximize macro-F1: predict argmax(log p + b).

    Tuned on the validation split only. The positive class's offset is fixed at 0; the
    other two are searched on a grid (prior correction, since class weighting and the
    78% positive prior pull the raw argmax in opposite directions).
    """
    grid = np.linspace(-2.0, 2.0, 41) if grid is None else grid
    log_p = np.log(np.clip(probabilities, 1e-9, 1.0))
    candidates = np.array([[negative, neutral, 0.0] for negative in grid for neutral in grid])
    scores = macro_f1_with_offsets(log_p, np.asarray(y_true, dtype=np.int64), candidates)
    best, best_offsets = -1.0, np.zeros(probabilities.shape[1])
    for offsets, score in zip(candidates, scores, strict=True):
        # Prefer the smallest correction among equals: stable across reruns.
        if score > best + 1e-9 or (abs(score - best) <= 1e-9 and np.abs(offsets).sum() < np.abs(best_offsets).sum()):
            best, best_offsets = score, offsets
    return best_offsets


def macro_f1_with_offsets(log_p: np.ndarray, y_true: np.ndarray, candidates: np.ndarray, max_cells: int = 4_000_000) -> np.ndarray:
    """Macro-F1 of ``argmax(log_p + offsets)`` for each row of ``candidates``, computed for
    blocks of candidates at once (the grid's 1,681 one at a time cost seconds a training)."""
    rows, k = log_p.shape
    scores = np.empty(len(candidates))
    block = max(1, max_cells // max(rows * k, 1))
    for start in range(0, len(candidates), block):
        offsets = candidates[start : start + block]
        predictions = (log_p[None, :, :] + offsets[:, None, :]).argmax(2)
        codes = np.arange(len(offsets))[:, None] * k * k + k * y_true[None, :] + predictions
        matrices = np.bincount(codes.ravel(), minlength=len(offsets) * k * k).reshape(len(offsets), k, k)
        scores[start : start + block] = macro_f1_of_confusions(matrices)
    return scores


# The baseline's shares tried by tune_blend: 0 (the model alone) .. 0.9.
BLEND_WEIGHTS = tuple(step / 10 for step in range(10))


def blend(model_probabilities: np.ndarray, baseline_probabilities: np.ndarray, weight: float) -> np.ndarray:
    """The averaged probabilities that ``tune_blend``'s weight applies to."""
    return (1.0 - weight) * model_probabilities + weight * baseline_probabilities


def tune_blend(
    model_probabilities: np.ndarray,
    baseline_probabilities: np.ndarray,
    y_true: np.ndarray,
    weights: Sequence[float] = BLEND_WEIGHTS,
    tune_offsets: bool = True,
) -> tuple[float, np.ndarray | None, float]:
    """The baseline's share of an averaged model+baseline (``(1 - w) * model + w *
    baseline``) and its prior correction (unless ``tune_offsets`` is False: None), both
    chosen for macro-F1 on validation; returns (weight, offsets, validation macro-F1).
    Weight 0 is the model alone, so the blend is never worse on validation than the
    model it extends."""
    best: tuple[float, np.ndarray | None, float] | None = None
    for weight in weights:
        blended = blend(model_probabilities, baseline_probabilities, weight)
        offsets = tune_class_offsets(blended, y_true) if tune_offsets else None
        score = macro_f1(y_true, apply_offsets(blended, offsets))
        if best is None or score > best[2] + 1e-9:
            best = (float(weight), offsets, score)
    if best is None:
        raise ValueError("tune_blend needs at least one weight")
    return best


def fit_stacked_blend(
    model_probabilities: np.ndarray,
    baseline_probabilities: np.ndarray,
    y_true: np.ndarray,
    c: float = 0.1,
    tune_offsets: bool = True,
    lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """A stacked combiner of model and baseline: a multinomial logistic regression (inverse
    L2 strength ``c``) over both log-probabilities, fitted on validation, then its prior
    correction (unless ``tune_offsets`` is False: None); returns (the combiner matrix of
    :func:`~sentiment_model.model.wide.stacked_probabilities`, offsets, validation
    macro-F1). Unlike one share, it weighs each part per class (round 12); with
    ``lengths`` (each review's standardized length), also per review length (round 13)."""
    from sklearn.linear_model import LogisticRegression

    classes = model_probabilities.shape[1]
    if len(np.unique(y_true)) != classes:
        raise ValueError(f"a stacked combiner needs every class in validation, got {np.unique(y_true).tolist()}")
    # The last column is the constant 1 that the combiner's last row (the intercept) multiplies.
    features = stack_features(model_probabilities, baseline_probabilities, lengths)[:, :-1]
    meta = LogisticRegression(C=c, max_iter=1_000).fit(features, y_true)
    combiner = np.vstack([meta.coef_.T, meta.intercept_[None, :]]).astype(np.float32)
    stacked = stacked_probabilities(model_probabilities, baseline_probabilities, combiner, lengths)
    offsets = tune_class_offsets(stacked, y_true) if tune_offsets else None
    return combiner, offsets, macro_f1(y_true, apply_offsets(stacked, offsets))


def bootstrap_macro_f1(
    y_true: np.ndarray,
    predictions: np.ndarray,
    baseline_predictions: np.ndarray | None = None,
    resamples: int = 1_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Macro-F1 with a percentile bootstrap interval over resampled test rows, and, given a
    baseline's predictions on the same rows, the paired interval of the difference
    (model - baseline): the same resample for both, so their shared noise cancels.
    ``verdict`` reads "better" / "worse" only when the difference's interval excludes 0."""
    y_true = np.asarray(y_true, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(y_true), size=(resamples, len(y_true)))
    tail = (1 - confidence) / 2 * 100
    scores = np.array([macro_f1(y_true[rows], predictions[rows]) for rows in samples])
    result: dict[str, Any] = {
        "macro_f1": macro_f1(y_true, predictions),
        "ci": [float(np.percentile(scores, tail)), float(np.percentile(scores, 100 - tail))],
        "resamples": resamples,
        "confidence": confidence,
    }
    if baseline_predictions is not None:
        baseline_predictions = np.asarray(baseline_predictions, dtype=np.int64)
        differences = scores - np.array([macro_f1(y_true[rows], baseline_predictions[rows]) for rows in samples])
        low, high = float(np.percentile(differences, tail)), float(np.percentile(differences, 100 - tail))
        result["baseline_macro_f1"] = macro_f1(y_true, baseline_predictions)
        result["difference"] = result["macro_f1"] - result["baseline_macro_f1"]
        result["difference_ci"] = [low, high]
        result["verdict"] = "better" if low > 0 else "worse" if high < 0 else "tie"
    return result


def bootstrap_mean_difference(
    y_true: np.ndarray,
    run_predictions: Sequence[np.ndarray],
    baseline_predictions: np.ndarray,
    resamples: int = 1_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Several training runs of one configuration against one baseline on the same rows:
    each run's macro-F1 and difference, their means, and the paired bootstrap interval of
    the mean difference (every run and the baseline scored on the same resample). One run's
    interval covers only the test rows' noise; a model that wins on one lucky training run
    and not on the next shows here as a spread of differences and a wider mean."""
    y_true = np.asarray(y_true, dtype=np.int64)
    runs = [np.asarray(p, dtype=np.int64) for p in run_predictions]
    baseline = np.asarray(baseline_predictions, dtype=np.int64)
    if not runs:
        raise ValueError("bootstrap_mean_difference needs at least one run")
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(y_true), size=(resamples, len(y_true)))
    tail = (1 - confidence) / 2 * 100
    baseline_scores = np.array([macro_f1(y_true[rows], baseline[rows]) for rows in samples])
    mean_differences = np.mean([[macro_f1(y_true[rows], run[rows]) for rows in samples] for run in runs], axis=0) - baseline_scores
    scores = [macro_f1(y_true, run) for run in runs]
    baseline_score = macro_f1(y_true, baseline)
    low, high = float(np.percentile(mean_differences, tail)), float(np.percentile(mean_differences, 100 - tail))
    return {
        "run_macro_f1": scores,
        "run_differences": [score - baseline_score for score in scores],
        "mean_macro_f1": float(np.mean(scores)),
        "baseline_macro_f1": baseline_score,
        "mean_difference": float(np.mean(scores)) - baseline_score,
        "mean_difference_ci": [low, high],
        "verdict": "better" if low > 0 else "worse" if high < 0 else "tie",
        "resamples": resamples,
        "confidence": confidence,
    }


def comparison_line(comparison: dict[str, Any], model: str = "BiLSTM", baseline: str = "TF-IDF+LR") -> str:
    """One plain sentence: the two scores, the difference with its interval, the verdict."""
    low, high = comparison["difference_ci"]
    verdict = {"better": f"{model} beats {baseline}", "worse": f"{model} is worse than {baseline}", "tie": f"{model} ties with {baseline} (the interval includes 0)"}[comparison["verdict"]]
    return (
        f"{verdict}: test macro-F1 {comparison['macro_f1']:.4f} vs {comparison['baseline_macro_f1']:.4f}, "
        f"difference {comparison['difference']:+.4f} ({comparison['confidence']:.0%} CI {low:+.4f} .. {high:+.4f}, "
        f"{comparison['resamples']:,} paired bootstrap resamples)"
    )
