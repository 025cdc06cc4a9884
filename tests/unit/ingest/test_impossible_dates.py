"""An impossible date in a text date field (2015-02-30, Apr 31, Feb 29 of a common year)
is quarantined with a reason, never rolled over into the next month (Arrow's strptime
reads 2015-02-30 as 2015-03-02)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentiment_model.core.layout import DataRoot
from sentiment_model.ingest.dedup import read_staged_rows
from sentiment_model.ingest.normalize import parse_review_time
from sentiment_model.ingest.pipeline import ingest_file
from sentiment_model.ingest.sources import build_spec
from tests.conftest import FIXTURES

NOW = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


def test_an_impossible_date_in_an_aws_tsv_is_quarantined_with_a_reason(tmp_path: Path):
    lines = (FIXTURES / "aws.tsv").read_text(encoding="utf-8").splitlines()
    header, first = lines[0], lines[1].rsplit("\t", 1)[0]
    days = ["2015-02-30", "2015-02-28", "2016-02-29", "2015-04-31", "2015-02-29"]
    body = [f"{first.replace('RTEST0001', f'RDATE{i:04d}')}\t{day}" for i, day in enumerate(days)]
    path = tmp_path / "dates.tsv"
    path.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    spec = build_spec({"name": "tsv", "uri": str(path), "preset": "aws_tsv"})
    root = DataRoot(str(tmp_path / "root"))
    result = ingest_file(root, "run1", spec, str(path), 0, ingested_at=NOW, chunk_rows=3)
    assert (result.records_read, result.valid, result.quarantined) == (5, 2, 3)
    kept = {row["review_time"].date() for row in read_staged_rows(root.fs, result.staged_parts).to_pylist()}
    assert kept == {dt.date(2015, 2, 28), dt.date(2016, 2, 29)}  # 2015-03-02 is nowhere
    reasons = sorted(pq.read_table(result.quarantine_file).column("quarantine_reason").to_pylist())
    assert reasons == [f"review_time is not a date on the calendar: '{day}'" for day in ("2015-02-29", "2015-02-30", "2015-04-31")]


@pytest.mark.parametrize(
    ("time_format", "text", "fine"),
    [
        ("%Y-%m-%d", "2015-02-30", False),
        ("%Y-%m-%d", "2015-2-3", True),
        ("%Y-%m-%d", "2000-02-29", True),
        ("%Y-%m-%d", "1900-02-29", False),
        ("%b %d, %Y", "Feb 30, 2015", False),  # "Month D, YYYY"
        ("%b %d, %Y", "feb 3, 2015", True),
        ("%B %d, %Y", "February 29, 2016", True),
        ("%B %d, %Y", "September 31, 2014", False),
        ("%m %d, %Y", "02 30, 2015", False),  # McAuley's reviewTime
        ("%d/%m/%y %z", "31/06/15 +0100", False),
        ("iso8601", "2015-02-30T10:00:00Z", False),
        ("iso8601", "2015-02-10T10:00:00.123Z", True),
    ],
)
def test_every_text_date_format_checks_the_calendar(time_format, text, fine):
    parsed, reason = parse_review_time(pa.array([text]), time_format, NOW)
    if fine:
        assert reason[0].as_py() is None and parsed[0].as_py() is not None
    else:
        assert parsed[0].as_py() is None and reason[0].as_py() == f"review_time is not a date on the calendar: '{text}'"
