"""How a network's probabilities become a class: argmax after the prior correction
(per-class log offsets tuned on validation, `training.metrics.tune_class_offsets`)."""

from __future__ import annotations

import numpy as np


def decision_scores(probabilities: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    """What a decision is the argmax of: log-probability plus the class's tuned offset."""
    log_p = np.log(np.clip(probabilities, 1e-9, 1.0))
    return log_p + (0 if offsets is None else np.asarray(offsets))


def apply_offsets(probabilities: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    """Class decisions after the tuned prior correction."""
    return decision_scores(probabilities, offsets).argmax(1)
