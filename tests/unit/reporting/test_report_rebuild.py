"""A report whose day is republished by a newer run while DuckDB reads it is rebuilt from
the day as it now stands; the same error on a day nobody republished is raised (it is a
real missing file, not a race)."""

import datetime as dt

import duckdb
import pytest

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import ReportOptions, ReportThresholds
from sentiment_model.reporting import rebuild

DAY = dt.date(2020, 1, 2)
# What the CLI race on the GCS emulator showed: DuckDB wraps gcsfs's FileNotFoundError in
# its own base error type ("Error: Traceback ... FileNotFoundError: ...part-00001.parquet").
VANISHED = "Error: Traceback (most recent call last):\nFileNotFoundError: scored/date=2020-01-02/run=r1/part-00001.parquet"


@pytest.fixture
def root(tmp_path, monkeypatch):
    root = DataRoot(str(tmp_path))
    root.write_json_atomic(root.scored_manifest(DAY), {"run_id": "r1", "files": []})
    return root


def build(root):
    return rebuild.build_report_of_the_day_as_it_stands(root, DAY, None, ReportOptions(min_support=5, thresholds=ReportThresholds()), log=print)


def test_a_day_republished_under_the_report_is_read_again(root, monkeypatch):
    calls = []

    def report_racing_a_newer_run(root_, day, context, **options):
        calls.append(root.read_json(root.scored_manifest(day))["run_id"])
        if len(calls) == 1:  # a newer run publishes and clears r1's parts mid-read
            root.write_json_atomic(root.scored_manifest(day), {"run_id": "r2", "files": []})
            raise duckdb.Error(VANISHED)
        return {"date": day.isoformat()}

    monkeypatch.setattr(rebuild, "build_report", report_racing_a_newer_run)
    assert build(root) == {"date": DAY.isoformat()}
    assert calls == ["r1", "r2"]


def test_a_missing_part_of_a_day_nobody_republished_is_an_error(root, monkeypatch):
    calls = []

    def report_of_a_damaged_day(root_, day, context, **options):
        calls.append(day)
        raise duckdb.Error(VANISHED)

    monkeypatch.setattr(rebuild, "build_report", report_of_a_damaged_day)
    with pytest.raises(duckdb.Error, match="FileNotFoundError"):
        build(root)
    assert len(calls) == 1  # not retried: rebuilding would read the same damaged day
