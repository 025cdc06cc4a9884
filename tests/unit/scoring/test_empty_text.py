"""Reviews that give the model no token are labelled `empty_text`, never predicted, and
kept out of the class shares; `explain` shows the scores its label was chosen from."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
from typer.testing import CliRunner

from flows.cli import app
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import CANONICAL_SCHEMA, EMPTY_TEXT_LABEL, LABELS
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.model.registry import load_classifier
from sentiment_model.reporting.context import ModelContext
from sentiment_model.reporting.reports import build_report
from sentiment_model.scoring.batch import read_scored_day, score_day, score_table
from tests.conftest import canonical_rows, synthetic_reviews

DAY = dt.date(2015, 9, 5)
TOKENLESS = [("", "   "), ("", "\u200b\u200b"), ("  ", "\t\n"), ("", "\u200b \ufeff"), ("...", "?!".replace("?!", "--"))]


def rows_with_tokenless_reviews() -> pa.Table:
    rows = canonical_rows(synthetic_reviews(40, seed=11), DAY)
    titles, texts = rows.column("title").to_pylist(), rows.column("text").to_pylist()
    for i, (title, text) in enumerate(TOKENLESS):
        titles[i], texts[i] = title, text
    rows = rows.set_column(rows.schema.get_field_index("title"), "title", pa.array(titles, pa.string()))
    return rows.set_column(rows.schema.get_field_index("text"), "text", pa.array(texts, pa.string())).cast(CANONICAL_SCHEMA)


def test_tokenless_reviews_are_labelled_empty_text_not_negative(tiny_champion_root):
    classifier = load_classifier(tiny_champion_root, "champion")
    scored = score_table(classifier, rows_with_tokenless_reviews(), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).to_pylist()
    empty, predicted = scored[: len(TOKENLESS)], scored[len(TOKENLESS) :]
    assert [r["predicted_label"] for r in empty] == [EMPTY_TEXT_LABEL] * len(TOKENLESS)
    assert all(r["p_negative"] == r["p_neutral"] == r["p_positive"] == r["confidence"] == 0.0 and r["top_tokens"] == [] for r in empty)
    assert {r["predicted_label"] for r in predicted} <= set(LABELS)
    assert all(abs(r["p_negative"] + r["p_neutral"] + r["p_positive"] - 1) < 1e-4 for r in predicted)
    # The rows that have tokens get the same prediction as when scored on their own.
    alone = score_table(classifier, rows_with_tokenless_reviews().slice(len(TOKENLESS)), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).to_pylist()
    assert [r["predicted_label"] for r in alone] == [r["predicted_label"] for r in predicted]


def test_report_keeps_empty_text_out_of_the_shares_and_reconciles(tiny_champion_root, tmp_path):
    root = DataRoot(str(tmp_path / "root"))
    shutil.copytree(Path(tiny_champion_root.path) / "models", Path(root.path) / "models")
    write_incoming_batches(root, rows_with_tokenless_reviews(), rows_per_file=15)
    classifier = load_classifier(root, "champion")
    manifest = score_day(root, classifier, DAY, "20260101T000000000000Z-abc123")
    assert manifest["rows"] == 40
    labels = read_scored_day(root, DAY).column("predicted_label").to_pylist()
    assert labels.count(EMPTY_TEXT_LABEL) == len(TOKENLESS)
    summary = build_report(root, DAY, ModelContext(version=classifier.version, training_counts={"negative": 1, "neutral": 1, "positive": 1}))
    assert summary["reviews"] == 40 and summary["other_labels"] == {EMPTY_TEXT_LABEL: len(TOKENLESS)}
    counts = {row["label"]: row["day_count"] for row in summary["class_distribution"]}
    assert EMPTY_TEXT_LABEL not in counts and sum(counts.values()) + len(TOKENLESS) == summary["reviews"]
    assert abs(sum(row["day_share"] for row in summary["class_distribution"]) - 1) < 1e-9
    assert summary["live_quality"]["rated_reviews"] == 40 - len(TOKENLESS)
    assert sum(row["reviews"] for row in summary["top_negative_products"]) <= 40 - len(TOKENLESS)
    last = summary["trend"][-1]
    assert last["reviews"] == 40 and sum(last[name] for name in ("negative", "neutral", "positive")) == 40 - len(TOKENLESS)
    markdown = root.fs.cat_file(root.join("reports", f"date={DAY}", "report.md")).decode()
    assert EMPTY_TEXT_LABEL in markdown and "outside the classes" in markdown


def test_explain_prints_empty_text_and_the_scores_the_label_came_from(tiny_champion_root):
    runner = CliRunner()
    empty = runner.invoke(app, ["explain", "", "--data-root", tiny_champion_root.url])
    assert empty.exit_code == 0, empty.output
    assert empty.output.startswith(f"{EMPTY_TEXT_LABEL}   (the text has no token")
    offsets = load_classifier(tiny_champion_root, "champion").class_offsets
    for text in ["great kettle, love it", "terrible, broke after a week", "it is okay", "\u200b"]:
        result = runner.invoke(app, ["explain", text, "--data-root", tiny_champion_root.url])
        assert result.exit_code == 0, result.output
        label = result.output.split()[0]
        if text == "\u200b":
            assert label == EMPTY_TEXT_LABEL
            continue
        scores = dict(re.findall(r"(negative|neutral|positive) (-?[0-9.]+)", result.output.split("decision scores")[1]))
        probabilities = dict(re.findall(r"(negative|neutral|positive) ([0-9.]+)", result.output.split("decision scores")[0]))
        assert len(scores) == len(probabilities) == 3
        # The printed label holds the highest printed score (>=: two scores may round alike).
        assert float(scores[label]) >= max(float(value) for value in scores.values()), result.output
        # Compared as probabilities: p printed to 3 decimals can read 0.000 where log p is -8,
        # so the log of the printed p says nothing about the printed score.
        from_scores = np.exp(np.array([float(scores[k]) for k in LABELS]) - (0 if offsets is None else offsets))
        assert np.allclose(from_scores, [float(probabilities[k]) for k in LABELS], atol=0.002), result.output
