"""Storage options (a token path or an inline key) never reach Prefect's API: not as a
flow-run parameter, a task input, a log line, an artifact or an event. The flows run
against the session harness with a recognizable fake token on a local root (where
options are ignored), and the harness's database is then searched for it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

pytestmark = pytest.mark.usefixtures("prefect_harness")

TOKEN = "FAKE-TOKEN-d0e5n0t-leak-7f3a91"
DAY = dt.date(2015, 8, 31)


def harness_database() -> Path:
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    return Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split(":///", 1)[1])


def stored_text(database: Path) -> str:
    """Every value of every table of the API's database, plus its raw bytes (WAL included)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)
    rows: list[str] = []
    with sqlite3.connect(database) as connection:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            rows.extend(repr(row) for row in connection.execute(f'SELECT * FROM "{table}"'))  # noqa: S608 (table names from sqlite_master)
    raw = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    return "\n".join(rows) + raw.decode("latin-1")


def test_no_flow_stores_the_storage_token_in_prefect(tiny_champion_root, tmp_path, monkeypatch):
    from flows.ingest import ingest
    from flows.nightly_scoring import nightly_scoring
    from flows.report import report
    from flows.stage_batches import stage_batches
    from sentiment_model.scoring.config import ScoringConfig

    monkeypatch.setenv("SENTIMENT_STORAGE_OPTIONS", json.dumps({"token": TOKEN}))
    (tmp_path / "raw").mkdir()
    shutil.copy(FIXTURES / "aws.tsv", tmp_path / "raw" / "aws.tsv")
    manifest = tmp_path / "sources.toml"
    manifest.write_text('base_uri = "raw"\n[[sources]]\nname = "tsv"\nuri = "aws.tsv"\npreset = "aws_tsv"\n', encoding="utf-8")
    ingest(data_root=str(tmp_path / "ingested"), sources_manifest=str(manifest))
    stage_batches(data_root=str(tmp_path / "ingested"))
    scored = tmp_path / "scored"
    shutil.copytree(tiny_champion_root.url, scored)
    nightly_scoring(data_root=str(scored), config=ScoringConfig(run_date=DAY))
    report(run_date=DAY, data_root=str(scored))

    text = stored_text(harness_database())
    assert "score-day-files" in text and "ingest-stage-files" in text  # the subflows' runs are there to search
    assert TOKEN not in text
