"""The student (training/student.py): one tiny training on a fake teacher's probabilities,
with augmented texts the teacher labels reaching the training batches."""

import numpy as np
import pyarrow.compute as pc
import pytest

from sentiment_model.model.text import tokenize
from sentiment_model.training.config import TrainConfig
from sentiment_model.training.data import split_train_validation_test, texts_and_labels
from sentiment_model.training.train import class_weights
from tests.conftest import synthetic_reviews
from tests.training.test_training_options import TINY


def fake_teacher(texts: list[str]) -> np.ndarray:
    """ "positive" at 0.9 for a text that says great, "negative" at 0.9 otherwise."""
    great = np.array(["great" in text.lower() for text in texts])
    return np.where(great[:, None], [0.05, 0.05, 0.9], [0.9, 0.05, 0.05])


def test_a_student_trains_on_the_teachers_mix_and_the_augmented_rows(monkeypatch):
    from sentiment_model.training import train as train_module
    from sentiment_model.training.student import train_student

    splits = split_train_validation_test(synthetic_reviews(300, seed=11), seed=11)
    batches, asked = [], []

    class RecordingSequence(train_module.BucketedSequence):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            batches.append(self)

    def teacher(texts):
        asked.append(list(texts))
        return fake_teacher(texts)

    monkeypatch.setattr(train_module, "BucketedSequence", RecordingSequence)
    config = TrainConfig(**{**TINY, "epochs": 1}, teacher_alpha=0.6, augment_factor=2, augment_weight=0.3)
    result = train_student(splits["train"], splits["validation"], config, teacher, log=lambda _: None, teacher_validation_macro_f1=0.93)

    texts, labels = texts_and_labels(splits["train"])
    n = len(labels)
    [seen] = asked  # the teacher is asked once, about the training texts and then the augmented ones
    assert seen[:n] == texts.to_pylist() and n < len(seen) <= 3 * n and not set(seen[n:]) & set(seen[:n])
    augmented = len(seen) - n
    [sequence] = batches  # one network
    class_targets, star_targets = sequence.targets
    assert len(sequence.ids) == len(class_targets) == len(sequence.weights) == n + augmented  # the augmented rows reach the batches
    np.testing.assert_allclose(class_targets[:n], 0.6 * fake_teacher(seen[:n]) + 0.4 * np.eye(3)[labels], atol=1e-6)
    np.testing.assert_allclose(class_targets[n:], fake_teacher(seen[n:]), atol=1e-6)
    per_class = class_weights(labels, config.imbalance)
    np.testing.assert_allclose(sequence.weights[n:], 0.3 * per_class[fake_teacher(seen[n:]).argmax(1)], rtol=1e-6)
    assert not star_targets[n:].any() and star_targets[:n].sum(1).tolist() == [1.0] * n  # stars from real rows only
    assert result.extra["student"] | {"teacher_seconds": 0} == {
        "rows": n,
        "augmented_rows": augmented,
        "alpha": 0.6,
        "augment_factor": 2,
        "augment_weight": 0.3,
        "augmented_teacher_classes": dict(zip(("negative", "neutral", "positive"), np.bincount(fake_teacher(seen[n:]).argmax(1), minlength=3).tolist(), strict=True)),
        "teacher_train_agreement": pytest.approx(float((fake_teacher(seen[:n]).argmax(1) == labels).mean())),
        "teacher_validation_macro_f1": 0.93,
        "teacher_seconds": 0,
    }
    assert result.classifier.model.output_shape == (None, 3)
    real_words = set(pc.list_flatten(tokenize(texts)).to_pylist())
    assert set(result.classifier.vocabulary.tokens) <= real_words and "although" not in real_words  # from the real text only


def test_a_student_is_one_three_class_network_and_the_teacher_must_answer_per_text():
    from sentiment_model.training.student import checked_probabilities, train_student

    def never(texts):
        raise AssertionError("the teacher is not asked when the config is wrong")

    with pytest.raises(ValueError, match="ensemble_size must be 1"):
        train_student(None, None, TrainConfig(**TINY, ensemble_size=2), never)
    with pytest.raises(ValueError, match=r"shape \(2, 2\), expected \(3, 3\)"):
        checked_probabilities(np.ones((2, 2)), 3)
    with pytest.raises(ValueError, match="sum to 1"):
        checked_probabilities(np.ones((3, 3)), 3)


def test_the_benchmarks_student_mode_fine_tunes_one_teacher_for_two_students_and_judges_it(tmp_path, monkeypatch):
    """`python -m benchmarks quality --teacher-minutes M --runs 2`: both training runs are
    students of one teacher (the second takes it from the cache) and share its labels of
    the augmented texts (the teacher predicts three times: the training texts, then the
    test and validation splits), and the row holds the teacher's test and validation
    figures beside the students'."""
    from benchmarks.quality import compare_on
    from benchmarks.student import StudentTrainer
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.teacher import cache, finetune
    from sentiment_model.teacher.config import TeacherConfig
    from tests.tiny_model import tiny_config

    fine_tunes = []
    fine_tune = cache.fine_tune
    monkeypatch.setattr(cache, "fine_tune", lambda *args, **kwargs: fine_tunes.append(1) or fine_tune(*args, **kwargs))
    predictions, predict = [], finetune.Teacher.predict_proba
    monkeypatch.setattr(finetune.Teacher, "predict_proba", lambda self, texts: predictions.append(len(texts)) or predict(self, texts))
    splits = split_train_validation_test(synthetic_reviews(240, seed=5), seed=5)
    teacher = TeacherConfig(max_length=24, batch_size=16, epochs=1, train_rows=32, learning_rate=1e-4, warmup_share=0.0, seed=1, eager=True)
    trainer = StudentTrainer(teacher, DataRoot(str(tmp_path / "root")))
    row = compare_on(splits["train"], splits["validation"], splits["test"], tiny_config(epochs=1, augment_factor=1), resamples=50, runs=2, trainer=trainer)
    assert len(fine_tunes) == 1 and row["teacher"]["cached"] and row["teacher"]["steps"] == 2
    # training texts + one augmented copy, then the test split and the validation split (issue 32's +0.05 gate)
    assert predictions == [2 * splits["train"].num_rows, splits["test"].num_rows, splits["validation"].num_rows]
    assert 0 <= row["teacher_macro_f1"] <= 1 and len(row["teacher_difference_ci"]) == 2
    assert 0 <= row["teacher_validation_macro_f1"] <= 1 and len(row["teacher_validation_difference_ci"]) == 2
    assert row["training"]["student"]["augmented_rows"] > 0 and len(row["over_runs"]["seeds"]) == 2
