"""The test session's Prefect API: Prefect's own test harness (a uvicorn process over a
temporary SQLite database), with one change in that process: every database transaction
begins IMMEDIATE.

Why: Prefect begins its SQLite transactions DEFERRED unless they lock rows for update.
When two requests' transactions cross (one reads, the other commits a write, the first
then writes), SQLite answers "database is locked" at once instead of waiting out its busy
timeout, the API answers 503, and the client sleeps 2, 4, 8 then 16 s before it retries.
Eight `sentiment score` processes racing one day (tests/system/test_races.py) spent more
time in those sleeps than working: 22-25 503s and 39-102 s of wall time against 33 s and
none with IMMEDIATE transactions (docs/reliability.md). An IMMEDIATE transaction takes
SQLite's write lock when it begins and waits its turn, as a row lock on a Postgres-backed
server does; the tests check the product under concurrency, not the test API's locking."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from prefect.server.api.server import SubprocessASGIServer

PROJECT_ROOT = Path(__file__).parents[1]


def create_app() -> Any:
    """Prefect's API app, run by the server process (``uvicorn --factory``), with its
    SQLite transactions begun IMMEDIATE."""
    from prefect.server.api.server import create_app as prefect_app
    from prefect.server.database.configurations import AioSqliteConfiguration

    begin_transaction = AioSqliteConfiguration.begin_transaction

    @asynccontextmanager
    async def begin_immediate(self: AioSqliteConfiguration, session: Any, with_for_update: bool = False) -> AsyncGenerator[Any, None]:
        async with begin_transaction(self, session, with_for_update=True) as transaction:
            yield transaction

    AioSqliteConfiguration.begin_transaction = begin_immediate  # type: ignore[method-assign]
    return prefect_app()


class ImmediateTransactionsServer(SubprocessASGIServer):
    """Prefect's test server process, serving ``create_app`` above. The command mirrors
    Prefect 3.8's ``SubprocessASGIServer._run_uvicorn_command`` but for the app factory."""

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        from prefect.settings import get_current_settings

        command = [sys.executable, "-m", "uvicorn", "--app-dir", str(PROJECT_ROOT), "--factory", f"{__name__}:create_app"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        server_env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        return subprocess.Popen(command, env={**os.environ, **server_env, **get_current_settings().to_environment_variables(exclude_unset=True)})


@contextmanager
def prefect_api_running(startup_timeout_s: int = 120) -> Iterator[None]:
    """Prefect's ``prefect_test_harness`` (a temporary database, the API's URL in the
    settings, logs and events drained at the end) serving through the server above."""
    import prefect.testing.utilities as harness

    serves_prefect_app = harness.SubprocessASGIServer
    harness.SubprocessASGIServer = ImmediateTransactionsServer
    try:
        with harness.prefect_test_harness(server_startup_timeout=startup_timeout_s):
            yield
    finally:
        harness.SubprocessASGIServer = serves_prefect_app
