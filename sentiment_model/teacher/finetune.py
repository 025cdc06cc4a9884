"""Fine-tuning the pretrained encoder as a 3-class classifier: AdamW with a linear warmup
and linear decay, class-weighted cross-entropy (as the student weighs its classes),
length-bucketed batches, early stopping on validation macro-F1 with the best weights
kept, and an optional time budget that the decay is fitted to. The test split is never
seen here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pyarrow as pa

from sentiment_model.model.batching import BucketedSequence, predict_bucketed
from sentiment_model.model.decision import macro_f1
from sentiment_model.teacher.config import TeacherConfig
from sentiment_model.teacher.encoder import pretrained_teacher
from sentiment_model.teacher.weights import bert_shape
from sentiment_model.teacher.wordpiece import WordPieceTokenizer, bucket_edges, table_texts

NUM_CLASSES = 3
#: Steps between re-estimates of where a time budget ends the learning-rate decay.
BUDGET_CHECK_STEPS = 25


@dataclass
class Teacher:
    """A fine-tuned teacher: the network, its tokenizer and what its training measured."""

    model: keras.Model
    tokenizer: WordPieceTokenizer
    config: TeacherConfig
    facts: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, texts: pa.Array) -> np.ndarray:
        """Class probabilities (negative, neutral, positive) in input order, predicted in
        length-sorted batches padded to their bucket."""
        ids, lengths = self.tokenizer.encode(texts)
        return predict_bucketed(self.model, ids, lengths, bucket_edges(self.config.max_length))


def warmup_linear_decay(step: int, peak: float, warmup: int, end: int) -> float:
    """The learning rate at ``step``: rising linearly to ``peak`` over ``warmup`` steps, then
    falling linearly to 0 at step ``end``."""
    rise = (step + 1) / warmup if warmup else 1.0
    decay = (end - step) / max(end - warmup, 1)
    return peak * min(max(min(rise, decay), 0.0), 1.0)


def budgeted_decay_end(planned_end: int, steps: int, seconds_left: float, seconds_per_step: float) -> int:
    """Where the learning rate should reach 0: at the planned end, or sooner when the time
    left at the steady pace allows fewer steps (re-estimated from the plan each time, so a
    pace that picks up moves the end later again). A budget that cuts the schedule short
    leaves the rate high and the teacher worse (validation macro-F1 0.7080 against 0.7687
    for a whole schedule on fewer reviews: docs/experiments.md)."""
    if seconds_per_step <= 0:
        return planned_end
    return min(planned_end, steps + max(int(seconds_left / seconds_per_step), 1))


def class_loss_weights(labels: np.ndarray, imbalance: str) -> np.ndarray:
    """Per-class loss weights: balanced (n / (k * count)), its square root, or ones."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(float)
    balanced = np.divide(len(labels), NUM_CLASSES * counts, out=np.zeros(NUM_CLASSES), where=counts > 0)
    return {"class_weight": balanced, "sqrt_class_weight": np.sqrt(balanced)}.get(imbalance, np.ones(NUM_CLASSES))


@dataclass
class _Run:
    """A fine-tuning's progress: steps, time in training steps, and the best validation
    macro-F1 so far with its weights (restored at the end)."""

    steps: int = 0
    rows: int = 0
    train_seconds: float = 0.0
    #: After the first two steps: Keras's TF graph is traced then (twice: two batch widths).
    steady_rows: int = 0
    steady_seconds: float = 0.0
    out_of_budget: bool = False
    best: float = -1.0
    best_epoch: int = 0
    best_weights: list[np.ndarray] | None = None
    waited: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def count_step(self, rows: int, seconds: float) -> None:
        self.steps, self.rows, self.train_seconds = self.steps + 1, self.rows + rows, self.train_seconds + seconds
        if self.steps > 2:
            self.steady_rows, self.steady_seconds = self.steady_rows + rows, self.steady_seconds + seconds

    def validate(self, teacher: Teacher, epoch: int, loss: float, ids: np.ndarray, lengths: np.ndarray, labels: np.ndarray, log: Callable[[str], None]) -> bool:
        """Score the epoch on validation, keep its weights if best; True: stop (patience spent)."""
        started = time.perf_counter()
        score = macro_f1(labels, predict_bucketed(teacher.model, ids, lengths, bucket_edges(teacher.config.max_length)).argmax(1))
        self.history.append({"epoch": epoch, "loss": loss, "validation_macro_f1": score, "validation_seconds": time.perf_counter() - started, "steps": self.steps})
        log(f"teacher epoch {epoch}: loss {loss:.4f}, validation macro-F1 {score:.4f}" + (" (time budget spent)" if self.out_of_budget else ""))
        if score > self.best:
            self.best, self.best_epoch, self.best_weights, self.waited = score, epoch, teacher.model.get_weights(), 0
            return False
        self.waited += 1
        return self.waited > teacher.config.patience


def sample_rows(n: int, most: int | None, seed: int) -> np.ndarray:
    """A seeded sample of at most ``most`` row indices (all of them when None), in order."""
    if most is None or most >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=most, replace=False))


def fine_tune(train: pa.Table, validation: pa.Table, config: TeacherConfig, log: Callable[[str], None] = print) -> Teacher:
    """Fine-tune the pretrained encoder on a labelled canonical table (``label_id``),
    early-stopping on ``validation``; the returned teacher's ``facts`` say how it went."""
    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    train = train.take(sample_rows(train.num_rows, config.train_rows, config.seed))
    labels = np.asarray(train.column("label_id").to_numpy(), dtype=np.int64)
    validation_labels = np.asarray(validation.column("label_id").to_numpy(), dtype=np.int64)
    tokenizer = WordPieceTokenizer(config.max_length)
    ids, lengths = tokenizer.encode(table_texts(train))
    validation_ids, validation_lengths = tokenizer.encode(table_texts(validation))
    teacher = Teacher(pretrained_teacher(bert_shape(), config.dropout, seed=config.seed), tokenizer, config)
    weights = class_loss_weights(labels, config.imbalance)
    batches = BucketedSequence(ids, lengths, labels, weights[labels], config.batch_size, buckets=bucket_edges(config.max_length), seed=config.seed, num_classes=NUM_CLASSES)
    planned_end = decay_end = len(batches) * config.epochs
    warmup = int(config.warmup_share * planned_end)
    optimizer = keras.optimizers.AdamW(learning_rate=config.learning_rate, weight_decay=config.weight_decay, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    teacher.model.compile(optimizer=optimizer, loss="categorical_crossentropy", run_eagerly=config.eager)
    budget = None if config.budget_minutes is None else config.budget_minutes * 60.0
    log(f"teacher: fine-tuning on {train.num_rows:,} reviews, {len(batches)} batches an epoch, at most {config.epochs} epochs")
    run = _Run()
    for epoch in range(1, config.epochs + 1):
        losses = []
        for index in range(len(batches)):
            if budget is not None and run.steady_seconds and run.steps % BUDGET_CHECK_STEPS == 0:
                decay_end = budgeted_decay_end(planned_end, run.steps, budget - (time.perf_counter() - started), run.steady_seconds / (run.steps - 2))
            # Set from Python each step (not a Keras schedule): the end can move as the budget's pace is measured.
            optimizer.learning_rate = warmup_linear_decay(run.steps, config.learning_rate, warmup, decay_end)
            x, y, sample_weight = batches[index]
            step_started = time.perf_counter()
            losses.append(float(np.asarray(teacher.model.train_on_batch(x, y, sample_weight=sample_weight))))
            run.count_step(len(x), time.perf_counter() - step_started)
            over_time = budget is not None and time.perf_counter() - started > budget
            if run.steps >= decay_end or over_time:
                run.out_of_budget = over_time or decay_end < planned_end
                break
        batches.on_epoch_end()
        if run.validate(teacher, epoch, float(np.mean(losses)), validation_ids, validation_lengths, validation_labels, log) or run.out_of_budget:
            break
    if run.best_weights is not None:
        teacher.model.set_weights(run.best_weights)
    teacher.facts = {
        "train_rows": train.num_rows,
        "validation_rows": validation.num_rows,
        "steps": run.steps,
        "best_epoch": run.best_epoch,
        "validation_macro_f1": run.best,
        "history": run.history,
        "stopped_by_budget": run.out_of_budget,
        "decay_end_step": decay_end,
        "seconds": time.perf_counter() - started,
        "train_examples_per_second": run.rows / run.train_seconds if run.train_seconds else None,
        "steady_train_examples_per_second": run.steady_rows / run.steady_seconds if run.steady_seconds else None,
        "train_seconds": run.train_seconds,
        "class_weights": weights.tolist(),
        "mean_pieces": float(lengths.mean()) if len(lengths) else 0.0,
        "truncated_share": float((lengths >= config.max_length).mean()) if len(lengths) else 0.0,
    }
    return teacher
