"""Concurrent writers with real processes, on local disk and on the GCS emulator: every
pointer swap is a compare-and-swap, so no update is lost, the newest scoring run of a
day wins, and the published day never names a file that is gone.

What runs in CI, per backend (local disk, GCS emulator), to keep its cost modest:
- the compare-and-swap primitive: 2 and 8 processes, 20 rounds, started together each
  round (a barrier);
- two promotions at once: 2 processes, 20 rounds;
- scoring and publishing one tiny day (library path, with a classifier double: the race
  is the publishing, so no process starts TensorFlow): 2 processes for 20 rounds, 8
  processes for 10 rounds;
- the `sentiment score` CLI: 8 whole CLI processes started together once, each a Prefect
  flow run on the session's API that publishes the day and builds its report; they too
  score with the classifier double, and write the report's charts undrawn
  (``tests/system/race_cli.py``). A 2-process CLI case was merged into this one: any
  interleaving of two processes can happen among eight, and the library path above keeps
  both sizes over many rounds.
``RACE_REPEAT=N`` runs every case N times in one session (docs/reliability.md has the
repeated runs and their times)."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import posixpath
import queue
import subprocess
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

import pytest

from sentiment_model.core.layout import DataRoot
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.scoring.batch import MANIFEST, read_scored_day
from tests.conftest import GCS_BUCKET, canonical_rows, synthetic_reviews
from tests.system import race_workers

PROJECT_ROOT = Path(__file__).parents[2]
DAY = dt.date(2016, 4, 2)
DAY_ROWS = 60
ROUNDS = 20
SCORING_ROUNDS = {2: 20, 8: 10}
REPEAT = [pytest.param(i, id=f"repeat{i}") for i in range(int(os.environ.get("RACE_REPEAT", "1")))]
SPAWN = multiprocessing.get_context("spawn")  # fork with TensorFlow threads is unsafe


@pytest.fixture(params=["local", "gcs"])
def backend(request, tmp_path) -> tuple[str, dict[str, Any]]:
    """(data root URL, storage options): a local folder, or a fresh prefix on the emulator."""
    if request.param == "local":
        return str(tmp_path / "root"), {}
    options = request.getfixturevalue("gcs_emulator")
    return f"gs://{GCS_BUCKET}/race-{uuid.uuid4().hex[:8]}", options


def run_rounds(target: Any, args: tuple, workers: int, check_round: Any = None, rounds: int = ROUNDS) -> list[tuple]:
    """Start ``workers`` processes running ``target(*args, name, rounds, barrier, results)``;
    per round, release them together, wait for each one's result, then ``check_round(round,
    results of the round)``. Returns every result."""
    barrier = SPAWN.Barrier(workers + 1)
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=target, args=(*args, f"w{i}", rounds, barrier, results)) for i in range(workers)]
    for process in processes:
        process.start()
    collected: list[tuple] = []
    try:
        for round_ in range(rounds):
            for _ in range(2):  # start together; all done
                try:
                    race_workers._wait(barrier, round_)
                except Exception:  # noqa: BLE001 - a worker broke the barrier or timed out: show why
                    errors = [str(r[1]) for r in drain(results) if r[0] == "error"]
                    pytest.fail(f"round {round_}: " + ("a worker failed:\n" + "\n".join(errors) if errors else "a worker died or timed out"))
            this_round = [results.get(timeout=race_workers.BARRIER_TIMEOUT_S) for _ in range(workers)]
            assert all(r[0] != "error" for r in this_round), this_round
            if check_round is not None:
                check_round(round_, this_round)
            collected += this_round
    finally:
        for process in processes:
            process.join(timeout=120)
            if process.is_alive():
                process.kill()
    assert [p.exitcode for p in processes] == [0] * workers
    return collected


def drain(results: Any) -> list[tuple]:
    out = []
    while True:
        try:
            out.append(results.get(timeout=5))
        except queue.Empty:
            return out


@pytest.mark.parametrize("repeat", REPEAT)
@pytest.mark.parametrize("workers", [2, 8])
def test_compare_and_swap_loses_no_update(backend, workers, repeat):
    url, options = backend
    results = run_rounds(race_workers.append_to_pointer, (url, options, "pointer.json"), workers)
    root = DataRoot(url, options)
    root.fs.invalidate_cache()
    writes = root.read_json(root.join("pointer.json"))["writes"]
    assert sorted(writes) == sorted(r[2] for r in results) and len(writes) == workers * ROUNDS == len(set(writes))
    for worker in range(workers):  # each writer's entries in its own order: no write undone
        assert [w for w in writes if w.startswith(f"w{worker}:")] == [f"w{worker}:{r}" for r in range(ROUNDS)]


@pytest.mark.parametrize("repeat", REPEAT)
def test_two_promotions_at_once_one_wins_each_round(backend, repeat):
    url, options = backend
    results = run_rounds(race_workers.promote_each_round, (url, options, SPAWN.Barrier(2)), 2)
    winners = {}
    for kind, round_, version in results:
        if kind == "won":
            assert round_ not in winners, f"round {round_}: two promotions both won"
            winners[round_] = version
    assert sorted(winners) == list(range(ROUNDS)) and sum(r[0] == "lost" for r in results) == ROUNDS
    root = DataRoot(url, options)
    root.fs.invalidate_cache()
    champion = root.read_json(root.champion_pointer())
    assert champion["version"] == winners[ROUNDS - 1] and champion["previous"] == winners[ROUNDS - 2]


def tiny_day_root(url: str, options: dict[str, Any], champion_root: DataRoot | None = None) -> DataRoot:
    """One tiny day in two files, and a champion copied from the session's tiny model
    when the race loads it."""
    root = DataRoot(url, options)
    for path in Path(champion_root.models_dir()).rglob("*") if champion_root else ():
        if path.is_file() and not path.name.endswith(".lock"):
            target = root.join("models", str(path.relative_to(champion_root.models_dir())))
            root.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            root.fs.put_file(str(path), target)
    write_incoming_batches(root, canonical_rows(synthetic_reviews(DAY_ROWS, seed=31), DAY), rows_per_file=DAY_ROWS // 2)
    return root


def assert_day_published_once(root: DataRoot, newest_run: str | None = None) -> dict[str, Any]:
    """The manifest names only files that exist, every review once, and no other run's
    files are left (the losers and the older runs cleaned up)."""
    root.fs.invalidate_cache()
    folder = root.scored_dir(DAY)
    manifest = root.read_json(posixpath.join(folder, MANIFEST))
    if newest_run is not None:
        assert manifest["run_id"] == newest_run
    for name in manifest["files"]:
        assert root.exists(posixpath.join(folder, name)), f"manifest names a missing file: {name}"
    ids = read_scored_day(root, DAY).column("review_id").to_pylist()
    assert len(ids) == len(set(ids)) == manifest["rows"] == DAY_ROWS
    runs = {posixpath.basename(p.rstrip("/")) for p in root.fs.ls(folder, detail=False)} - {MANIFEST, f"{MANIFEST}.lock"}
    assert runs == {f"run={manifest['run_id']}"}, runs
    return manifest


@pytest.mark.parametrize("repeat", REPEAT)
@pytest.mark.parametrize("workers", [2, 8])
def test_scoring_runs_of_one_date_started_together(backend, workers, repeat):
    url, options = backend
    root = tiny_day_root(url, options)

    def check(round_: int, results: list[tuple]) -> None:
        # The newest run of the round (run ids sort by start time) is the one published.
        assert_day_published_once(root, newest_run=max(run_id for _, _, run_id, _ in results))

    run_rounds(race_workers.score_each_round, (url, options, DAY.isoformat()), workers, check_round=check, rounds=SCORING_ROUNDS[workers])


@pytest.fixture
def cli_env(prefect_harness) -> dict[str, str]:
    """Environment for `sentiment` subprocesses: this session's Prefect API (no ephemeral
    server per process), offline."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(PROJECT_ROOT)}


@pytest.mark.parametrize("repeat", REPEAT)
def test_sentiment_score_cli_processes_started_together(backend, tiny_champion_root, cli_env, repeat, tmp_path):
    workers = 8
    url, options = backend
    root = tiny_day_root(url, options, tiny_champion_root)
    env = {**cli_env, "SENTIMENT_STORAGE_OPTIONS": json.dumps(options)}
    command = [sys.executable, "-m", "tests.system.race_cli", "score", "--run-date", DAY.isoformat(), "--data-root", url]
    processes = [subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(workers)]
    outputs: list[str] = []
    try:
        outputs += [p.communicate(timeout=600)[0] for p in processes]
        assert [p.returncode for p in processes] == [0] * workers, "\n".join(o[-3000:] for o in outputs)
        manifest = assert_day_published_once(root)
        # The report of the day stands and counts the day as published, charts included.
        report = root.fs.cat(root.report_file(DAY, "report.html")).decode()
        assert f"{manifest['rows']} reviews scored" in report and "alt='sentiment_trend.png'" in report
    except BaseException:
        # Keep the traceback and every process's output in this test's tmp_path (pytest
        # keeps the last three runs' folders): xdist prints a failure only at the end.
        (tmp_path / "failure.txt").write_text(traceback.format_exc() + "\n\n".join(outputs), encoding="utf-8")
        raise
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
