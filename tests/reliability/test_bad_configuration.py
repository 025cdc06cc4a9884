"""Bad configuration: a clear one-line message, exit code 2, and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).parents[2]


def sentiment(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "--data-root", "nosuch://bucket/x"], "error: Unknown or unavailable storage scheme 'nosuch://'"),
        (["score", "--data-root", "{root}", "--model", "20990101T000000Z-deadbeef"], "error: model version '20990101T000000Z-deadbeef' does not exist"),
        (["score", "--data-root", "{root}"], "error: no champion model under"),
        (["explain", "great", "--data-root", "{root}"], "error: no champion model under"),
    ],
)
def test_bad_configuration_exits_2_with_a_clear_message_and_writes_nothing(tmp_path, args, message):
    root = tmp_path / "root"
    done = sentiment(*[a.replace("{root}", str(root)) for a in args], cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not root.exists()


def test_champion_pointing_at_a_missing_folder(tmp_path):
    root = tmp_path / "root"
    (root / "models").mkdir(parents=True)
    (root / "models" / "champion.json").write_text('{"version": "20990101T000000Z-deadbeef"}')
    done = sentiment("score", "--data-root", str(root), cwd=tmp_path)
    assert done.returncode == 2
    assert "names 20990101T000000Z-deadbeef, but" in done.stderr and "has no model.keras" in done.stderr
    assert sorted(p.name for p in root.rglob("*")) == ["champion.json", "models"]
