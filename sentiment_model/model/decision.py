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
    return float(macro_f1_of_confusions(confusion(y_true, y_pred, num_classes)[None])[0])


def macro_f1_of_confusions(matrices: np.ndarray) -> np.ndarray:
    """:func:`macro_f1` of each of a stack of confusion matrices ``(m, k, k)``."""
    tp = np.diagonal(matrices, axis1=1, axis2=2).astype(float)
    predicted, support = matrices.sum(1), matrices.sum(2)
    zeros = np.zeros(tp.shape)
    precision = np.divide(tp, predicted, out=zeros.copy(), where=predicted > 0)
    recall = np.divide(tp, support, out=zeros.copy(), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=zeros.copy(), where=(precision + recall) > 0)
    return f1.mean(1)
