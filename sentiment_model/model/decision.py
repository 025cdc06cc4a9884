"""How a network's probabilities become a class: argmax after the prior correction
(per-class log offsets tuned on validation, `training.metrics.tune_class_offsets`), and
the score decisions are judged by: macro-F1 (the corpus is ~78% positive, so accuracy
flatters). Here, below training, so the teacher (`sentiment_model.teacher`) reads it too."""

from __future__ import annotations

import numpy as np


def decision_scores(probabilities: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    """What a decision is the argmax of: log-probability plus the class's tuned offset."""
    log_p = np.log(np.clip(probabilities, 1e-9, 1.0))
    return log_p + (0 if offsets is None else np.asarray(offsets))


def apply_offsets(probabilities: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    """Class decisions after the tuned prior correction."""
    return decision_scores(probabilities, offsets).argmax(1)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 3) -> np.ndarray:
    """Counts: rows are true classes, columns predicted."""
    return np.bincount(num_classes * np.asarray(y_true, dtype=np.int64) + np.asarray(y_pred, dtype=np.int64), minlength=num_classes**2).reshape(num_classes, num_classes)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 3) -> float:
    """Unweighted mean of per-class F1 over all classes (absent classes count as 0)."""
    matrix = confusion(y_true, y_pred, num_classes)
    tp = np.diag(matrix).astype(float)
    precision = np.divide(tp, matrix.sum(0), out=np.zeros(num_classes), where=matrix.sum(0) > 0)
    recall = np.divide(tp, matrix.sum(1), out=np.zeros(num_classes), where=matrix.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(num_classes), where=(precision + recall) > 0)
    return float(f1.mean())
