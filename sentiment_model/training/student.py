"""The student: today's BiLSTM trained on a teacher's probabilities (Tang et al. 2019,
"Distilling Task-Specific Knowledge from BERT into Simple Neural Networks").

A real training row's target is ``teacher_alpha * teacher + (1 - teacher_alpha) * one_hot``
(Tang et al. use the teacher's logits alone, under a mean squared error; we mix, with
cross-entropy on probabilities, as the seed ensemble's distillation does); an augmented
row's target is the teacher's probabilities alone, and its loss weight that of the
teacher's most likely class times ``augment_weight``. The vocabulary, the wide part and
the star head learn from the real rows only (an augmented row's star target is zeros:
no star loss). Early stopping, the prior correction and the choice of the wide part's
combiner stay on the validation split, as for any network: the student is one network
of the default shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sentiment_model.core.schema import LABELS
from sentiment_model.model.subword import SubwordVocabulary
from sentiment_model.model.text import Vocabulary
from sentiment_model.training.augment import augment, for_student
from sentiment_model.training.config import TrainConfig
from sentiment_model.training.data import texts_and_labels
from sentiment_model.training.train import TrainingRows, TrainResult, train_classifier

#: The teacher as the student sees it: review texts -> (n, len(LABELS)) probabilities.
TeacherProbabilities = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class TeacherTargets:
    """What the teacher said: its probabilities on the training texts (in the training
    table's order), the augmented texts (as the teacher read them) and its probabilities
    on them; its validation macro-F1 where the caller knows it."""

    train_probabilities: np.ndarray
    augmented_texts: list[str]
    augmented_probabilities: np.ndarray
    validation_macro_f1: float | None = None
    seconds: float = 0.0


def train_student(
    train: pa.Table,
    validation: pa.Table,
    config: TrainConfig,
    teacher_probabilities: TeacherProbabilities,
    log: Callable[[str], None] = print,
    teacher_validation_macro_f1: float | None = None,
) -> TrainResult:
    """The BiLSTM of ``config`` trained on ``train`` with the teacher's soft targets and
    ``config.augment_factor`` augmented texts per training text that the teacher labels;
    ``result.extra["student"]`` says how many rows of each and the teacher's figures."""
    check_student_config(config)
    texts, _ = texts_and_labels(train)
    targets = teacher_targets(texts.to_pylist(), config, teacher_probabilities, log, teacher_validation_macro_f1)
    return train_classifier(train, validation, config, log, teacher=targets)


def check_student_config(config: TrainConfig) -> None:
    """The student is one 3-class network: one clear line otherwise."""
    if config.ensemble_size != 1 or config.classes != "sentiment":
        raise ValueError(f"a student trains one 3-class network: ensemble_size must be 1 and classes 'sentiment', got {config.ensemble_size} and {config.classes!r}")


def teacher_targets(
    texts: Sequence[str], config: TrainConfig, teacher_probabilities: TeacherProbabilities, log: Callable[[str], None] = print, validation_macro_f1: float | None = None
) -> TeacherTargets:
    """Augment the training ``texts`` as ``config`` says and ask the teacher about them and
    the texts themselves, in one call."""
    started = time.perf_counter()
    augmented = augment(
        texts,
        config.augment_factor,
        config.seed,
        mask=config.augment_mask,
        replace=config.augment_replace,
        ngram=config.augment_ngram,
        negation=config.augment_negation,
        contrast=config.augment_contrast,
    )
    log(f"augmentation: {len(augmented):,} texts from {len(texts):,} ({time.perf_counter() - started:.0f}s)")
    asked = time.perf_counter()
    probabilities = checked_probabilities(teacher_probabilities([*texts, *augmented]), len(texts) + len(augmented))
    seconds = time.perf_counter() - asked
    log(f"teacher: {len(texts) + len(augmented):,} texts labelled ({seconds:.0f}s)")
    return TeacherTargets(probabilities[: len(texts)], augmented, probabilities[len(texts) :], validation_macro_f1, seconds)


def checked_probabilities(probabilities: np.ndarray, rows: int) -> np.ndarray:
    """The teacher's answer as float32, or one clear line where it is not one probability
    row per text over :data:`LABELS`."""
    answer = np.asarray(probabilities, dtype=np.float32)
    if answer.shape != (rows, len(LABELS)):
        raise ValueError(f"the teacher's probabilities have shape {answer.shape}, expected ({rows}, {len(LABELS)}): one row per text over {', '.join(LABELS)}")
    if not np.isfinite(answer).all() or (answer < 0).any() or not np.allclose(answer.sum(1), 1.0, atol=1e-3):
        raise ValueError("the teacher's probabilities are not probabilities: every row must be finite, >= 0 and sum to 1")
    return answer


def student_rows(
    teacher: TeacherTargets,
    real: TrainingRows,
    rows: np.ndarray,
    weights_per_class: np.ndarray,
    vocabulary: Vocabulary | SubwordVocabulary,
    config: TrainConfig,
    log: Callable[[str], None] = print,
) -> tuple[TrainingRows, dict[str, Any]]:
    """``real`` (the training rows ``rows`` of the table, hard targets) with the teacher's
    mix as their targets, followed by the augmented rows; and the facts for the result."""
    check_student_config(config)
    alpha = config.teacher_alpha
    soft = alpha * teacher.train_probabilities[rows] + (1 - alpha) * real.classes
    ids, lengths = vocabulary.encode(for_student(teacher.augmented_texts), config.max_length, config.truncation_head)
    augmented = teacher.augmented_probabilities
    teacher_classes = augmented.argmax(1)
    stars = None if real.stars is None else np.concatenate([real.stars, np.zeros((len(augmented), real.stars.shape[1]), dtype=np.float32)])
    rows_trained = TrainingRows(
        ids=np.concatenate([real.ids, ids]),
        lengths=np.concatenate([real.lengths, lengths]),
        classes=np.concatenate([soft, augmented]).astype(np.float32),
        stars=stars,
        weights=np.concatenate([real.weights, config.augment_weight * weights_per_class[teacher_classes]]),
    )
    agreement = float((teacher.train_probabilities[rows].argmax(1) == real.classes.argmax(1)).mean()) if len(rows) else float("nan")
    facts = {
        "rows": len(real.ids),
        "augmented_rows": len(augmented),
        "alpha": alpha,
        "augment_factor": config.augment_factor,
        "augment_weight": config.augment_weight,
        "augmented_teacher_classes": dict(zip(LABELS, np.bincount(teacher_classes, minlength=len(LABELS)).tolist(), strict=True)),
        "teacher_train_agreement": agreement,
        "teacher_validation_macro_f1": teacher.validation_macro_f1,
        "teacher_seconds": teacher.seconds,
    }
    log(f"student: {len(real.ids):,} training rows (teacher weight {alpha}) and {len(augmented):,} augmented rows; the teacher agrees with {agreement:.1%} of the training labels")
    return rows_trained, facts
