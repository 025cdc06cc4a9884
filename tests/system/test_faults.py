"""Faults: a scoring process killed with SIGKILL, two runs of one date at once,
transient storage errors, and permanent ones."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.model.registry import load_classifier
from sentiment_model.scoring.batch import MANIFEST, list_day_files, read_scored_day, score_day
from tests.conftest import canonical_rows, synthetic_reviews

PROJECT_ROOT = Path(__file__).parents[2]
DAY = dt.date(2016, 3, 1)


@pytest.fixture
def many_files_root(tmp_path, tiny_champion_root):
    """A champion and one day split into 40 small batch files (so a run takes a while)."""
    root = DataRoot(str(tmp_path / "root"))
    shutil.copytree(tiny_champion_root.models_dir(), root.models_dir())
    write_incoming_batches(root, canonical_rows(synthetic_reviews(2_000, seed=21), DAY), rows_per_file=50)
    assert len(list_day_files(root, DAY)) == 40
    return root


def review_ids(root: DataRoot) -> list[str]:
    return sorted(read_scored_day(root, DAY).column("review_id").to_pylist())


KILLABLE_RUN = textwrap.dedent(
    """
    import sys, datetime as dt
    from sentiment_model.core.layout import DataRoot, new_run_id
    from sentiment_model.model.registry import load_classifier
    from sentiment_model.scoring.batch import score_day
    root = DataRoot(sys.argv[1])
    score_day(root, load_classifier(root, "champion"), dt.date.fromisoformat(sys.argv[2]), new_run_id())
    """
)


def test_sigkill_mid_run_keeps_previous_output_and_rerun_scores_each_review_once(many_files_root):
    root = many_files_root
    classifier = load_classifier(root, "champion")
    score_day(root, classifier, DAY, new_run_id())
    before = read_scored_day(root, DAY).drop_columns(["scored_at"]).sort_by("review_id")
    manifest_before = root.read_json(f"{root.scored_dir(DAY)}/{MANIFEST}")

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-c", KILLABLE_RUN, root.url, DAY.isoformat()], env=env, cwd=PROJECT_ROOT)
    day_dir = Path(root.scored_dir(DAY))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = [p for p in day_dir.glob("run=*") if p.name != f"run={manifest_before['run_id']}"]
        if runs and len(list(runs[0].glob("part-*.parquet"))) >= 3:
            break
        assert process.poll() is None, "the run finished before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    # The killed run left partial files, but the live output is the previous run, intact.
    assert root.read_json(f"{root.scored_dir(DAY)}/{MANIFEST}") == manifest_before
    assert read_scored_day(root, DAY).drop_columns(["scored_at"]).sort_by("review_id").equals(before)

    score_day(root, classifier, DAY, new_run_id())
    ids = review_ids(root)
    assert len(ids) == len(set(ids)) == 2_000
    assert len(list(day_dir.glob("run=*"))) == 1  # the killed run's leftovers were removed


def test_two_runs_of_one_date_started_together_leave_one_output(many_files_root):
    root = many_files_root
    classifier = load_classifier(root, "champion")
    first, second = new_run_id(), new_run_id()
    outcomes: dict[str, dict] = {}
    threads = [threading.Thread(target=lambda r=r: outcomes.__setitem__(r, score_day(root, classifier, DAY, r))) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    newest = max(first, second)
    manifest = root.read_json(f"{root.scored_dir(DAY)}/{MANIFEST}")
    assert manifest["run_id"] == newest
    ids = review_ids(root)
    assert len(ids) == len(set(ids)) == 2_000
    assert [p.name for p in Path(root.scored_dir(DAY)).glob("run=*")] == [f"run={newest}"]


class FlakyMemoryFileSystem(MemoryFileSystem):
    """In-memory storage whose first read of each batch file fails like a dropped connection."""

    protocol = "flaky"
    failures: dict[str, int] = {}

    def _open(self, path, mode="rb", **kwargs):
        if "incoming" in path and "r" in mode and self.failures.get(path, 0) == 0:
            self.failures[path] = 1
            raise ConnectionResetError(f"connection reset while reading {path}")
        return super()._open(path, mode=mode, **kwargs)


@pytest.mark.usefixtures("prefect_harness")
def test_transient_storage_errors_are_retried_and_permanent_ones_name_the_path(tiny_champion_root):
    from tasks.scoring import score_batch_file

    fsspec.register_implementation("flaky", FlakyMemoryFileSystem, clobber=True)
    root = DataRoot("flaky://faults")
    for path in Path(tiny_champion_root.models_dir()).rglob("*"):
        if path.is_file():
            root.fs.put_file(str(path), root.join("models", str(path.relative_to(tiny_champion_root.models_dir()))))
    write_incoming_batches(root, canonical_rows(synthetic_reviews(120, seed=5), DAY))
    source = list_day_files(root, DAY)[0]
    model_dir = root.models_dir(root.read_json(root.champion_pointer())["version"])
    scoring = score_batch_file.with_options(retry_delay_seconds=0)
    result = scoring(root, model_dir, source, DAY, new_run_id(), 0, dt.datetime.now(dt.UTC))
    assert result.scored == 120 and FlakyMemoryFileSystem.failures[source] == 1  # failed once, retried, done

    missing = root.join("incoming", f"date={DAY.isoformat()}", "part-99999.parquet")
    FlakyMemoryFileSystem.failures[missing] = 1  # no hiccup this time: the file is simply not there
    started = time.monotonic()
    with pytest.raises(FileNotFoundError, match="part-99999.parquet"):
        score_batch_file.with_options(retry_delay_seconds=5)(root, model_dir, missing, DAY, new_run_id(), 1, dt.datetime.now(dt.UTC))
    assert time.monotonic() - started < 5  # a missing file is not retried
