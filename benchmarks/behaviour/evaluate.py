"""`python -m benchmarks behaviour`: the default model and TF-IDF+LR trained on the same
rows of the shared corpus, and per capability of the behaviour cases the accuracy of the
network alone, the default model and TF-IDF+LR."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from benchmarks.behaviour.cases import DEFAULT_SEED, WORD_ORDER, Case, generate
from sentiment_model.core.schema import LABELS

if TYPE_CHECKING:
    from sentiment_model.teacher.config import TeacherConfig

Predict = Callable[[list[str]], Sequence[str]]


def baseline_predict(baseline: Any) -> Predict:
    return lambda texts: [LABELS[i] for i in baseline.predict_proba(pa.array(texts, type=pa.string())).argmax(1)]


def _row(name: str, chosen: list[int], cases: list[Case], predicted: dict[str, Sequence[str]]) -> dict[str, Any]:
    row: dict[str, Any] = {"capability": name, "cases": len(chosen)}
    for model, labels in predicted.items():
        row[model] = float(np.mean([labels[i] == cases[i].label for i in chosen]))
    return row


def accuracy_rows(cases: list[Case], models: dict[str, Predict]) -> list[dict[str, Any]]:
    """One row per capability (then the word-order three together, then every case): its
    number of cases and each model's accuracy."""
    texts = [case.text for case in cases]
    predicted = {model: predict(texts) for model, predict in models.items()}
    rows = [_row(name, [i for i, case in enumerate(cases) if case.capability == name], cases, predicted) for name in dict.fromkeys(case.capability for case in cases)]
    together = [i for i, case in enumerate(cases) if case.capability in WORD_ORDER]
    if together:
        rows.append(_row(" + ".join(WORD_ORDER), together, cases, predicted))
    rows.append(_row("all", list(range(len(cases))), cases, predicted))
    return rows


def behaviour(reviews: int | None = None, quick: bool = False, seed: int = DEFAULT_SEED, teacher: TeacherConfig | None = None) -> dict[str, Any]:
    """Train the default `sentiment retrain` model and TF-IDF+LR on ``reviews`` training
    reviews (all of the random split's by default; 3,000 and one epoch with ``quick``) and
    score both, and the network alone, on the cases generated from ``seed``. With
    ``teacher``, the model is the student of a MiniLM teacher fine-tuned on the same rows
    with that config, and the teacher is scored too."""
    from benchmarks.common import labelled_splits, shared_root
    from benchmarks.student import StudentTrainer, trainer_for
    from sentiment_model.training.baseline import TfidfBaseline
    from sentiment_model.training.config import RetrainConfig
    from sentiment_model.training.data import stratified_sample, texts_and_labels

    config = RetrainConfig().train
    if quick:
        config = config.model_copy(update={"epochs": 1, "ensemble_size": 1, "distill": False})
        reviews = reviews or 3_000
    splits = labelled_splits()
    train = stratified_sample(splits["train"], n=reviews, seed=13) if reviews else splits["train"]
    baseline = TfidfBaseline.fit(*texts_and_labels(train))
    trainer = trainer_for(teacher, shared_root())
    result = trainer(train, splits["validation"], config)
    models = {"network alone": result.network_alone().predict, "default model": result.classifier.predict, "TF-IDF+LR": baseline_predict(baseline)}
    if isinstance(trainer, StudentTrainer):
        models["teacher"] = lambda texts: [LABELS[i] for i in trainer.probabilities(texts).argmax(1)]
    return {"config": config.to_dict(), "train_rows": train.num_rows, "case_seed": seed, "rows": accuracy_rows(generate(seed), models)}
