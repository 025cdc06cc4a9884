"""The CLI and its Prefect API: the ephemeral server dies with the command, and an API
that does not answer is told from the command's own failure."""

from __future__ import annotations

import os
from typing import Any

#: Run in the ephemeral API's process before it becomes uvicorn: ask the kernel to send
#: SIGTERM when the CLI dies (PR_SET_PDEATHSIG = 1), give up if it already has, then exec.
_DIE_WITH_PARENT = "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); os.getppid() == int(sys.argv[1]) or sys.exit(1); os.execv(sys.argv[2], sys.argv[2:])"


def ephemeral_api_dies_with_cli() -> None:
    """Prefect starts its ephemeral API as a child process (uvicorn) and stops it at
    exit; a `kill -9` of the CLI skips that and leaves the server running for good. On
    Linux the child gets a parent-death signal (kept across exec), so it ends with the
    CLI however the CLI ends. Call before the first flow run; a no-op elsewhere."""
    import subprocess
    import sys
    from types import SimpleNamespace

    if not sys.platform.startswith("linux") or os.environ.get("PREFECT_API_URL"):
        return
    from prefect.server.api import server

    if getattr(server.subprocess, "dies_with_parent", False):
        return

    class PopenDyingWithParent(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, args: list[str], **kwargs: Any) -> None:
            super().__init__([sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *args], **kwargs)

    server.subprocess = SimpleNamespace(**{**vars(subprocess), "Popen": PopenDyingWithParent, "dies_with_parent": True})


#: sysexits.h's EX_TEMPFAIL: the command did not fail on its input; running it again later
#: may succeed (a scheduler or a shell loop can retry on this code alone).
EXIT_TRY_AGAIN = 75


def prefect_api_outage(exc: BaseException) -> str | None:
    """One line for an error that is the Prefect API not answering (a 5xx status after
    the client's retries, or no connection), found anywhere in ``exc``'s chain; None
    for anything else. Its requests are told apart by the API's URL, or (the ephemeral
    API, whose URL is not a setting) by Prefect's own status error."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL

    api_url = (PREFECT_API_URL.value() or "").rstrip("/")
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, httpx.HTTPStatusError | httpx.TransportError):
            request = error._request  # None for a transport error raised outside a request
            from_api = request is not None and ((api_url and str(request.url).startswith(api_url)) or isinstance(error, PrefectHTTPStatusError))
            if isinstance(error, httpx.HTTPStatusError):
                what, unavailable = f"{error.response.status_code} {error.response.reason_phrase}", error.response.status_code >= 500
            else:
                what, unavailable = _one_line(str(error)) or type(error).__name__, True
            if from_api and unavailable:
                return (
                    f"the Prefect API at {api_url or request.url.copy_with(path='/api', query=None)} did not answer {request.method} {request.url.path} "
                    f"({what}) after the client's retries; the command stopped before it finished: run it again "
                    "(PREFECT_CLIENT_MAX_RETRIES sets how often the client retries)"
                )
        error = error.__cause__ or error.__context__
    return None


def _one_line(message: str) -> str:
    return " ".join(message.split())
