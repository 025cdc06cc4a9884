"""The `sentiment` command as a real process: a failing source file during ingest still
prints the reconciliation; a `kill -9` of the command leaves no Prefect server behind; a
Prefect API that stops answering is one line and exit 75, not a traceback."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).parents[2]
GOOD_RECORD = '{"reviewerID": "A1", "asin": "B1", "reviewText": "works well", "overall": 5, "unixReviewTime": 1400000000}\n'


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", *args]


def environment() -> dict[str, str]:
    # No PREFECT_API_URL: the command starts Prefect's ephemeral API, as a user's would.
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return {**env, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def write_manifest(tmp_path: Path, *names: str) -> Path:
    entries = "".join(f'[[sources]]\nname = "s{i}"\nuri = "{name}"\npreset = "mcauley_json"\n' for i, name in enumerate(names))
    path = tmp_path / "sources.toml"
    path.write_text(f'base_uri = "raw"\n{entries}')
    return path


def test_failing_source_file_still_prints_the_reconciliation(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "good.jsonl").write_text(GOOD_RECORD * 2)
    whole = gzip.compress((GOOD_RECORD * 200).encode())
    (raw / "broken.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    manifest = write_manifest(tmp_path, "good.jsonl", "broken.jsonl.gz")
    done = subprocess.run(command("ingest", "--data-root", str(tmp_path / "root"), "--manifest", str(manifest)), cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stdout + done.stderr
    table = done.stdout.splitlines()
    assert any("good.jsonl" in line and " ok " in line for line in table), done.stdout
    assert any("broken.jsonl.gz" in line and "failed" in line for line in table), done.stdout
    assert any(line.startswith("total (2 files, 1 failed)") for line in table), done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]  # among Prefect's log lines
    assert len(errors) == 1 and errors[0].startswith("error: 1 source file(s) failed, the rest landed: "), done.stderr
    assert "broken.jsonl.gz: truncated or corrupt compressed file" in errors[0]


def _children(pid: int) -> dict[int, str]:
    """Child processes of ``pid`` with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux-only")
def test_kill_9_of_the_command_leaves_no_prefect_server(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    os.mkfifo(raw / "waits.jsonl")  # opening it blocks: the run stays in its ingest task until killed
    manifest = write_manifest(tmp_path, "waits.jsonl")
    cli = subprocess.Popen(command("ingest", "--data-root", str(tmp_path / "root"), "--manifest", str(manifest)), cwd=tmp_path, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = None
    try:
        deadline = time.monotonic() + 240
        while server is None and time.monotonic() < deadline and cli.poll() is None:
            server = next((pid for pid, cmd in _children(cli.pid).items() if "prefect.server.api.server:create_app" in cmd), None)
            time.sleep(0.2)
        assert server is not None, f"no ephemeral Prefect server started (command exit code {cli.poll()})"
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(timeout=30)
        deadline = time.monotonic() + 60
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server), f"the Prefect server (pid {server}) outlived the killed command"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        if server is not None and _alive(server):
            os.kill(server, signal.SIGKILL)


@contextlib.contextmanager
def api_refusing_flow_runs(upstream: str) -> Iterator[str]:
    """A proxy to the Prefect API at ``upstream`` that answers 503 to every flow-run
    creation, as a SQLite-backed server does when its database stays busy; yields its URL."""
    import httpx

    client = httpx.Client(base_url=upstream.removesuffix("/api"), timeout=60)

    class Proxy(http.server.BaseHTTPRequestHandler):
        def relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.command == "POST" and self.path.rstrip("/") == "/api/flow_runs":
                status, headers, content = 503, {"Content-Type": "application/json"}, b'{"exception_message": "Service Unavailable"}'
            else:
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = client.request(self.command, self.path, content=body, headers=forwarded)
                status, headers, content = answer.status_code, {"Content-Type": answer.headers.get("content-type", "application/json")}, answer.content
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(content))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = relay

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()
        client.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("outage", ["503 to the flow-run creation", "nothing listening"])
def test_a_prefect_api_that_does_not_answer_is_one_line_and_exit_75(outage, prefect_harness, tmp_path):
    from prefect.settings import PREFECT_API_URL

    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "good.jsonl").write_text(GOOD_RECORD)
    manifest = write_manifest(tmp_path, "good.jsonl")
    with contextlib.ExitStack() as stack:
        if outage == "nothing listening":
            api_url = f"http://127.0.0.1:{_closed_port()}/api"
        else:
            api_url = stack.enter_context(api_refusing_flow_runs(PREFECT_API_URL.value()))
        env = {**environment(), "PREFECT_API_URL": api_url, "PREFECT_CLIENT_MAX_RETRIES": "1"}
        done = subprocess.run(command("ingest", "--data-root", str(tmp_path / "root"), "--manifest", str(manifest)), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 75, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: the Prefect API at {api_url} did not answer "), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    if outage == "nothing listening":
        assert "Connection refused" in errors[0] or "connect" in errors[0].lower(), errors[0]
    else:
        assert "POST /api/flow_runs/ (503 Service Unavailable)" in errors[0], errors[0]
    assert not (tmp_path / "root").exists() or not any(p.is_file() for p in (tmp_path / "root").rglob("*")), "the command wrote under the data root"
