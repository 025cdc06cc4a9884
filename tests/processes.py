"""Helpers for tests that start real processes: a free loopback port, and the environment
of a throw-away Prefect server (own home and SQLite database, offline)."""

from __future__ import annotations

import os
import socket
from pathlib import Path


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
