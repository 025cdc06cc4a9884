"""A damaged Parquet file in the report's reads: a past night's part is left out of the
trailing window with a note (in summary.json and in the report's sections); tonight's
own part fails the report with one line naming it."""

from __future__ import annotations

import datetime as dt
import posixpath

import pytest

from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import LABELS
from sentiment_model.core.settings import ReportOptions
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.reporting.context import ModelContext
from sentiment_model.reporting.reports import build_report
from sentiment_model.scoring.batch import list_day_files
from tests.conftest import canonical_rows, synthetic_reviews
from tests.unit.reporting.test_reports import _write_scored_day

DAY = dt.date(2015, 6, 10)
PAST = DAY - dt.timedelta(days=1)


def write_scored_day(root: DataRoot, day: dt.date, n: int = 6) -> str:
    """A small scored day with its manifest; returns the part's path."""
    predicted = [LABELS[i % len(LABELS)] for i in range(n)]
    _write_scored_day(root, day, LABELS, predicted, ratings=[1 + i % 5 for i in range(n)])
    return posixpath.join(root.scored_dir(day), "run=r1", "part-00000.parquet")


def truncate(path: str) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(handle.seek(0, 2) // 2)


@pytest.fixture
def two_nights(tmp_path) -> tuple[DataRoot, dict[dt.date, str]]:
    root = DataRoot(str(tmp_path / "data"))
    parts = {day: write_scored_day(root, day) for day in (PAST, DAY)}
    for day in (PAST, DAY):
        write_incoming_batches(root, canonical_rows(synthetic_reviews(6, seed=day.day), day))
    return root, parts


def test_a_damaged_scored_part_of_a_past_night_is_left_out_and_noted(two_nights):
    root, parts = two_nights
    truncate(parts[PAST])
    summary = build_report(root, DAY, ModelContext(), ReportOptions(window_days=2))
    assert [s["file"] for s in summary["skipped_files"]] == [parts[PAST]]
    assert "not a readable Parquet file" in summary["skipped_files"][0]["reason"]
    assert summary["reviews"] == 6 and all(row["trailing_count"] == 0 for row in summary["class_distribution"])
    on_disk = root.read_json(root.report_file(DAY, "summary.json"))
    assert on_disk["skipped_files"] == summary["skipped_files"]
    for name in ("report.html", "report.md"):
        text = root.fs.cat_file(root.report_file(DAY, name)).decode()
        assert "Files left out" in text and parts[PAST] in text, name


def test_a_damaged_incoming_file_of_a_past_night_is_left_out_and_noted(two_nights):
    root, _ = two_nights
    (past_file,) = list_day_files(root, PAST)
    truncate(past_file)
    summary = build_report(root, DAY, ModelContext(), ReportOptions(window_days=2))
    assert [s["file"] for s in summary["skipped_files"]] == [past_file]


@pytest.mark.parametrize("which", ["scored", "incoming"])
def test_a_damaged_file_of_tonight_fails_the_report_naming_it(two_nights, which):
    root, parts = two_nights
    damaged = parts[DAY] if which == "scored" else list_day_files(root, DAY)[0]
    truncate(damaged)
    with pytest.raises(ConfigError) as raised:  # CorruptFileError: one line at the CLI, exit 2
        build_report(root, DAY, ModelContext(), ReportOptions(window_days=2))
    message = str(raised.value)
    assert damaged in message and "truncated or damaged" in message and "\n" not in message
