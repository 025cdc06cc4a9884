"""Prefect tasks for a retrain with a teacher: the fine-tuned MiniLM (from the cache, or
fine-tuned now), the BiLSTM trained as its student, and the teacher judged on the test
split beside the student, the network alone and TF-IDF+LR."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from sentiment_model.core.layout import DataRoot
from sentiment_model.training.config import RetrainConfig, TrainConfig
from sentiment_model.training.data import texts_and_labels
from sentiment_model.training.metrics import bootstrap_macro_f1

if TYPE_CHECKING:
    from sentiment_model.training.train import TrainResult


@task(name="fit-teacher", cache_policy=NONE)
def fit_teacher(root: DataRoot, splits: dict[str, pa.Table], config: RetrainConfig, fingerprint: dict[str, Any]) -> Any:
    """The teacher for these rows: cached by the canonical run, how the rows were chosen and
    the teacher's config, so a retrain of the same data does not fine-tune again."""
    from sentiment_model.teacher.cache import cached_teacher

    selection = {name: fingerprint[name] for name in ("train_before", "split_seed", "sample_seed", "sample_size")}
    logger = get_run_logger()
    return cached_teacher(root, fingerprint["canonical_run_id"], splits["train"], splits["validation"], config.teacher, selection, log=logger.info)


@task(name="train-student", cache_policy=NONE)
def train_student_of(root: DataRoot, splits: dict[str, pa.Table], config: TrainConfig, teacher: Any) -> TrainResult:
    """The BiLSTM trained on the teacher's probabilities (stored once per set of texts)."""
    from sentiment_model.teacher.cache import cached_probabilities
    from sentiment_model.training.student import train_student

    logger = get_run_logger()

    def teacher_probabilities(texts: list[str]) -> np.ndarray:
        return cached_probabilities(root, teacher, pa.array(texts, type=pa.string()), log=logger.info)

    return train_student(splits["train"], splits["validation"], config, teacher_probabilities, log=logger.info, teacher_validation_macro_f1=teacher.facts.get("validation_macro_f1"))


@task(name="judge-teacher", cache_policy=NONE)
def side_by_side(root: DataRoot, teacher: Any, result: TrainResult, splits: dict[str, pa.Table], predictions: np.ndarray, baseline_predictions: np.ndarray, resamples: int) -> dict[str, Any]:
    """Test macro-F1 of the teacher, the student (the model as registered), its network
    alone and TF-IDF+LR, each with the paired interval of its difference from TF-IDF+LR."""
    from sentiment_model.teacher.cache import cached_probabilities

    texts, labels = texts_and_labels(splits["test"])
    network = result.network_alone()
    decided = {
        "teacher": cached_probabilities(root, teacher, texts, log=get_run_logger().info).argmax(1),
        "student": predictions,
        "network alone": predictions if network is result.classifier else network.decide(network.predict_proba(texts)),
    }
    rows = {name: bootstrap_macro_f1(labels, chosen, baseline_predictions, resamples=resamples) for name, chosen in decided.items()}
    return {
        "test_macro_f1": {**{name: row["macro_f1"] for name, row in rows.items()}, "TF-IDF+LR": rows["student"]["baseline_macro_f1"]},
        "difference_from_tfidf_lr": {name: {"difference": row["difference"], "ci": row["difference_ci"], "verdict": row["verdict"]} for name, row in rows.items()},
        "teacher_facts": teacher.facts,
    }
