"""End to end with real components: a Prefect server on 127.0.0.1, `prefect deploy --all`,
a process worker, and a triggered `nightly-scoring` run on a real day from ../shared."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sentiment_model.core.layout import DataRoot
from sentiment_model.ingest.canonical import read_canonical, write_incoming_batches
from sentiment_model.scoring.batch import read_scored_day
from tests.processes import free_port, prefect_server_env

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
DAY = dt.date(2015, 8, 31)


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def create_flow_run(api: str, deployment_id: str, parameters: dict) -> dict:
    """A run of the deployment, created through the API. The test server is SQLite-backed:
    on a busy machine it can answer 503 (database busy) or time out; that is retried, any
    other refusal fails the test with the server's answer."""
    for attempt in range(5):
        try:
            response = httpx.post(f"{api}/deployments/{deployment_id}/create_flow_run", json={"parameters": parameters}, timeout=30)
        except httpx.TimeoutException:
            continue
        if response.status_code < 500:
            assert response.status_code == 201, f"create_flow_run answered {response.status_code}: {response.text[:2000]}"
            return response.json()
        time.sleep(2 * (attempt + 1))
    raise AssertionError("the Prefect API did not create the flow run after 5 tries")


def stop(process: subprocess.Popen, sig: int) -> None:
    """Stop a process group: the worker ignores SIGTERM, so it gets SIGINT."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def e2e_root(tmp_path, shared_ingest, tiny_champion_root):
    """A data root with a champion (the tiny one) and the real reviews of DAY staged."""
    shared_root, _ = shared_ingest
    root = DataRoot(str(tmp_path / "data"))
    shutil.copytree(tiny_champion_root.models_dir(), root.models_dir())
    counts = write_incoming_batches(root, read_canonical(shared_root, start=DAY, end=DAY))
    assert counts[DAY.isoformat()] > 1000
    return root, counts[DAY.isoformat()]


def test_deployed_nightly_scoring_runs_on_a_real_server_and_worker(tmp_path, e2e_root):
    root, staged = e2e_root
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_server_env(
        tmp_path,
        api,
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_UI_ENABLED="false",
        PWD=str(PROJECT_ROOT),
        SENTIMENT_DATA_ROOT=root.url,
        PREFECT_WORKER_QUERY_SECONDS="2",  # the worker picks a new run up in 2 s, not 10
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=open(logs / "server.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = None
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{api}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 120, "the Prefect server")

        def cli(*args: str) -> str:
            done = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"prefect {' '.join(args)}\n{done.stdout}\n{done.stderr}"
            return done.stdout

        cli("work-pool", "create", "process-pool", "--type", "process")
        cli("work-pool", "create", "gpu", "--type", "process")
        cli("--no-prompt", "deploy", "--all")
        # Alerts: a notification block and the automations, as the README tells users to.
        block = subprocess.run(
            [
                sys.executable,
                "-c",
                "from prefect.blocks.notifications import CustomWebhookNotificationBlock as B; B(name='e2e', url='http://127.0.0.1:9/hook', json_data={'text': '{{subject}}'}).save('e2e-alerts')",
            ],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert block.returncode == 0, block.stderr[-2000:]
        installed = subprocess.run([str(BIN / "sentiment"), "alerts", "install", "--block", "custom-webhook/e2e-alerts"], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
        assert installed.returncode == 0 and "Review sentiment: new incident (warning or page)" in installed.stdout, installed.stderr[-2000:]
        deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
        by_name = {d["name"]: d for d in deployments}
        assert set(by_name) == {"nightly-scoring", "retrain", "ingest", "report"}
        nightly = by_name["nightly-scoring"]
        assert nightly["schedules"][0]["schedule"]["cron"] == "0 2 * * *"
        assert nightly["global_concurrency_limit"]["limit"] == 1

        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "process-pool"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=open(logs / "worker.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        flow_run = create_flow_run(api, nightly["id"], {"config": {"run_date": DAY.isoformat()}})

        def final_state(run_id: str = flow_run["id"]) -> str | None:
            state = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"]
            return state if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

        state = wait_for(final_state, 480, "the nightly-scoring run", interval=2)
        assert state == "COMPLETED", (logs / "worker.log").read_text()[-5000:]

        # The night's own run is named for it and holds the report, the link, the tables and the progress.
        assert httpx.get(f"{api}/flow_runs/{flow_run['id']}", timeout=10).json()["name"] == f"nightly {DAY}"
        artifacts = httpx.post(f"{api}/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}}, timeout=10).json()
        keys = {a["key"] for a in artifacts}
        assert {"nightly-scoring-report", "nightly-scoring-report-html", "nightly-scoring-class-distribution", "nightly-scoring-negative-products"} <= keys
        assert [a["description"] for a in artifacts if a["type"] == "progress"] == [f"scoring 1 file of {DAY}"]

        # Bad parameters are refused by the flow's parameter model on the worker, before TensorFlow loads.
        bad = create_flow_run(api, nightly["id"], {"config": {"run_date": DAY.isoformat(), "end_date": "2015-08-01"}})
        assert wait_for(lambda: final_state(bad["id"]), 120, "the run with bad parameters", interval=1) == "FAILED"
        refused = httpx.get(f"{api}/flow_runs/{bad['id']}", timeout=10).json()
        assert "end_date 2015-08-01 is before run_date 2015-08-31" in refused["state"]["message"], refused["state"]
        task_runs = httpx.post(f"{api}/task_runs/filter", json={"flow_runs": {"id": {"any_": [bad["id"]]}}}, timeout=10).json()
        assert task_runs == [], [t["name"] for t in task_runs]  # refused before any task (or the model) ran

        def events(prefix: str) -> list[dict]:
            return httpx.post(f"{api}/events/filter", json={"filter": {"event": {"prefix": [prefix]}}, "limit": 50}, timeout=10).json()["events"]

        # The report's event (and any alert event) is on the server, tied to the flow run;
        # an alert event makes the installed automation act.
        published = wait_for(lambda: events("review-sentiment.report.published"), 60, "the report event on the server")
        assert published[0]["resource"]["prefect.resource.id"] == f"review-sentiment.night.{DAY.isoformat()}"
        assert flow_run["id"] in {r["prefect.resource.id"].split(".")[-1] for e in published for r in e["related"]}
        if [e for e in events("review-sentiment.incident.opened") if e["resource"].get("review-sentiment.severity") in ("warning", "page")]:
            wait_for(lambda: events("prefect.automation."), 120, "the incident automation to act")

        scored = read_scored_day(root, DAY)
        assert scored.num_rows == staged and len(set(scored.column("review_id").to_pylist())) == staged
        report_dir = Path(root.reports_dir(DAY))
        assert (report_dir / "report.html").stat().st_size > 10_000
        assert (report_dir / "summary.json").exists()
    finally:
        if worker is not None:
            stop(worker, signal.SIGINT)
        stop(server, signal.SIGINT)
