"""`sentiment evaluate` reads a labelled dump with the configured storage options
(issue 12: it dropped them), here from gs:// on a real local GCS emulator."""

from __future__ import annotations

import json

import orjson
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import FIXTURES
from tests.conftest import GCS_BUCKET as BUCKET


def test_evaluate_reads_gs_sources_with_the_configured_storage_options(gcs_emulator, tiny_champion_root, tmp_path, monkeypatch):  # noqa: F811
    import gcsfs

    fs = gcsfs.GCSFileSystem(**gcs_emulator)
    fs.invalidate_cache()
    fs.put_file(str(FIXTURES / "aws.tsv"), f"{BUCKET}/labelled/aws.tsv")
    monkeypatch.setenv("SENTIMENT_STORAGE_OPTIONS", json.dumps(gcs_emulator))
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(app, ["evaluate", "--source", f"gs://{BUCKET}/labelled/aws.tsv", "--format", "aws_tsv", "--out", str(out), "--data-root", tiny_champion_root.url])
    assert result.exit_code == 0, result.output
    metrics = orjson.loads(out.read_bytes())
    assert metrics["n"] == 3 and metrics["files"] == [f"gs://{BUCKET}/labelled/aws.tsv"]
