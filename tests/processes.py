"""Helpers for tests that start real processes: a free loopback port, the environment of a
throw-away Prefect server (own home and SQLite database, offline), and such a server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prefect_server_env(tmp_path: Path, api: str, **overrides: str) -> dict[str, str]:
    """The environment for `prefect server start` (and its clients) under ``tmp_path``."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
        **overrides,
    }
    env.pop("PREFECT_PROFILES_PATH", None)
    return env


@contextlib.contextmanager
def prefect_server(tmp_path: Path, timeout: float = 120, **overrides: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A real `prefect server start` on a free loopback port, with its own home and
    database under ``tmp_path`` (log: ``tmp_path/server.log``); yields its API URL and the
    environment its clients need. Stopped with SIGINT (then SIGKILL) at exit."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_server_env(tmp_path, api, **{"PREFECT_UI_ENABLED": "false", **overrides})
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(api):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not start: {(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(1)
        yield api, env
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)


def _healthy(api: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
