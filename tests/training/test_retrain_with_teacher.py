"""`retrain` with a teacher, end to end on a tiny corpus: the MiniLM teacher is fine-tuned
(two eager steps) and stored, the BiLSTM trains as its student on its probabilities and
augmented text, the metrics put the teacher, the student, the network alone and TF-IDF+LR
side by side, and a second retrain of the same rows takes the teacher from the cache."""

from __future__ import annotations

import json

import pytest

from tests.conftest import synthetic_reviews
from tests.tiny_model import tiny_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def write_mcauley_json(path, n: int) -> None:
    """Synthetic reviews as a McAuley 2014 JSON lines dump (one reviewer and day each)."""
    rows = synthetic_reviews(n, seed=21).to_pylist()
    with open(path, "w", encoding="utf-8") as out:
        for i, row in enumerate(rows):
            record = {
                "reviewerID": f"U{i:05d}",
                "asin": f"B{i % 9:09d}",
                "reviewText": row["text"],
                "overall": float(row["rating"]),
                "summary": row["title"],
                "unixReviewTime": 1_400_000_000 + 86_400 * (i % 200),
            }
            out.write(json.dumps(record) + "\n")


def test_a_retrain_with_a_teacher_trains_its_student_and_reuses_the_cached_teacher(tmp_path):
    from flows.ingest import ingest
    from flows.retrain import retrain
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.teacher.config import TeacherConfig
    from sentiment_model.training.config import RetrainConfig

    (tmp_path / "raw").mkdir()
    write_mcauley_json(tmp_path / "raw" / "reviews.jsonl", 240)
    manifest = tmp_path / "sources.toml"
    manifest.write_text(f'base_uri = "{tmp_path / "raw"}"\n[[sources]]\nname = "json"\nuri = "*.jsonl"\npreset = "mcauley_json"\n', encoding="utf-8")
    data_root = str(tmp_path / "root")
    ingest(data_root=data_root, sources_manifest=str(manifest))

    teacher = TeacherConfig(max_length=24, batch_size=16, epochs=1, train_rows=32, learning_rate=1e-4, warmup_share=0.0, seed=1, eager=True)
    config = RetrainConfig(student_of_teacher=True, teacher=teacher, bootstrap_resamples=50, train=tiny_config(epochs=2, augment_factor=1))
    first = retrain(data_root=data_root, config=config)
    metrics = first["metrics"]
    side = metrics["teacher"]
    assert set(side["test_macro_f1"]) == {"teacher", "student", "network alone", "TF-IDF+LR"}
    assert side["test_macro_f1"]["student"] == pytest.approx(metrics["test"]["macro_f1"])
    assert set(side["difference_from_tfidf_lr"]) == {"teacher", "student", "network alone"}
    assert not side["teacher_facts"]["cached"] and side["teacher_facts"]["steps"] == 2
    student = metrics["training"]["student"]
    assert student["augmented_rows"] > 0 and student["alpha"] == config.train.teacher_alpha

    root = DataRoot(data_root)
    key = side["teacher_facts"]["key"]
    assert root.exists(root.teacher_file(key, "teacher.json"))
    again = retrain(data_root=data_root, config=config)["metrics"]["teacher"]
    assert again["teacher_facts"]["cached"] and again["teacher_facts"]["key"] == key
    assert again["test_macro_f1"]["teacher"] == pytest.approx(side["test_macro_f1"]["teacher"])
