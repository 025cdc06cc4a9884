"""`sentiment score` on a night with a truncated batch file: exit 2 and one `error:` line
naming the file (issue "Hostile input, round two", item 7); nothing of the night is published."""

from __future__ import annotations

import datetime as dt
import posixpath
import shutil
import subprocess
import sys

import pyarrow.parquet as pq

from sentiment_model.core.layout import DataRoot
from sentiment_model.scoring.batch import list_day_files
from tests.system.test_cli_processes import environment

DAY = dt.date(2015, 8, 31)


def test_score_names_a_truncated_batch_file_in_one_line(tiny_champion_root, tmp_path):
    root = DataRoot(str(tmp_path / "root"))
    shutil.copytree(tiny_champion_root.url, root.path)
    before = root.fs.cat_file(root.scored_manifest(DAY)) if root.exists(root.scored_manifest(DAY)) else None
    whole = tmp_path / "whole.parquet"
    pq.write_table(pq.read_table(list_day_files(root, DAY)[0]), whole)
    broken = posixpath.join(root.incoming_dir(DAY), "part-00099.parquet")
    root.fs.pipe_file(broken, whole.read_bytes()[: whole.stat().st_size // 2])
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "score", "--run-date", DAY.isoformat(), "--data-root", root.url],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]  # among Prefect's log lines
    assert len(errors) == 1 and errors[0].startswith(f"error: {broken}: not a readable Parquet file"), done.stderr
    after = root.fs.cat_file(root.scored_manifest(DAY)) if root.exists(root.scored_manifest(DAY)) else None
    assert after == before
