"""The one way a benchmark starts another process: a measured function in a fresh Python
(``python -m benchmarks.child MODULE:FUNCTION ARGS_JSON``), or a service (``sentiment serve``).

A fresh process keeps what is measured honest: cold imports and model loads, a peak
memory (VmHWM) that belongs to the run alone, and a Prefect test API that the parent's
own ingest of the shared corpus cannot have warmed. Every child gets the same
environment (:func:`child_env`) and hands its result back through a JSON file, never
stdout (Prefect may print after a flow returns)."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import PROJECT_ROOT

PREFECT_API_STARTUP_S = 120  # a Prefect API server (ephemeral or test) on a busy 2-core machine: Prefect waits 20 s
#: Every benchmark process, this one (set by ``python -m benchmarks``) and each child:
#: quiet, offline, patient with Prefect's API server. A variable the user set wins.
BENCHMARK_ENV = {
    "KERAS_BACKEND": "tensorflow",  # the backend machine() records with the result
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(PREFECT_API_STARTUP_S),
}
#: Children only: their log goes to a file read when they fail.
CHILD_ENV = {**BENCHMARK_ENV, "PREFECT_LOGGING_LEVEL": "WARNING"}
SAMPLE_EVERY_S = 0.2  # process-tree RSS sampling interval (run(..., sample_tree=True))
ERROR_TAIL_CHARS = 3_000
STOP_GRACE_S = 60  # a service finishes its requests in flight, a child its Prefect API's shutdown


def set_benchmark_env() -> None:
    """:data:`BENCHMARK_ENV` in this process (before TensorFlow or Prefect is imported)."""
    for key, value in BENCHMARK_ENV.items():
        os.environ.setdefault(key, value)


def child_env(**overrides: str) -> dict[str, str]:
    """The environment of every benchmark child: :data:`CHILD_ENV` under the user's own
    variables, this checkout first on PYTHONPATH, then ``overrides``."""
    python_path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**CHILD_ENV, **os.environ, "PYTHONPATH": python_path, **overrides}


def run(function: Callable[..., dict[str, Any]], *args: Any, sample_tree: bool = False) -> dict[str, Any]:
    """``function(*args)`` in a fresh process; its result dict, plus ``peak_rss_mb`` (the
    child's VmHWM when the function returned) and, with ``sample_tree``,
    ``peak_tree_rss_mb`` (the RSS of its whole process tree, a Prefect API server
    included, sampled every 0.2 s). ``args`` must be JSON values."""
    target = f"{function.__module__}:{function.__qualname__}"
    work = Path(tempfile.mkdtemp(prefix="bench-child-"))
    result_file, log_file = work / "result.json", work / "child.log"
    command = [sys.executable, "-m", "benchmarks.child", target, json.dumps(args), str(result_file)]
    try:
        with log_file.open("wb") as log:  # a file, not a pipe: a chatty child cannot block on a full pipe
            process = subprocess.Popen(command, env=child_env(), cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
        peak_tree = 0
        try:
            if sample_tree:
                peak_tree = _wait_sampling_tree(process)
            else:
                process.wait()
        finally:
            stop(process)  # only does something when this process was interrupted
        if process.returncode or not result_file.exists():
            log_tail = log_file.read_text(errors="replace")[-ERROR_TAIL_CHARS:]
            raise RuntimeError(f"benchmark child {target} failed (exit {process.returncode}):\n{log_tail}")
        result = json.loads(result_file.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if sample_tree:
        result["peak_tree_rss_mb"] = peak_tree / 2**20
    return result


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a child that is still running as a user would (SIGINT: it unwinds and stops
    its own servers), killing it after a grace period."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_children_on_sigterm() -> None:
    """Make SIGTERM (``timeout``, a scheduler) unwind this process like Ctrl-C, so every
    child it started is stopped rather than left running on a shared machine."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def _wait_sampling_tree(process: subprocess.Popen[bytes]) -> int:
    """Wait for ``process``; the largest RSS sum of it and its descendants, in bytes."""
    import psutil

    parent, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:  # a process of the tree ended while it was read
            pass
        time.sleep(SAMPLE_EVERY_S)
    return peak


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A long-running child (a service) with the benchmark environment, stdout and
    stderr into ``log``; the caller stops it."""
    with log.open("wb") as out:
        return subprocess.Popen(command, env=child_env(), cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)


def free_port() -> int:
    """A free loopback port for a service child."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sentiment_command(*args: str) -> list[str]:
    """The ``sentiment`` command of this environment, as a user runs it."""
    return [str(Path(sys.executable).parent / "sentiment"), *args]


def temporary_prefect_api() -> Any:
    """In a child: a temporary Prefect API (own server process and database) for its flows."""
    from prefect.testing.utilities import prefect_test_harness

    return prefect_test_harness(server_startup_timeout=PREFECT_API_STARTUP_S)


def status_mb(key: str) -> float:
    """A memory figure of this process from /proc/self/status (``VmHWM:``, ``VmRSS:``), in MB.
    VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent process."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key)) / 1024


def main(argv: list[str]) -> None:
    """The child's side of :func:`run`: call the function, write its result (with the
    process's peak memory) to the result file, or print it when none is given."""
    target, args_json, *result_file = argv
    # SIGINT is how run() stops a child; a parent started in the background (or by
    # pytest-xdist) may pass SIGINT down ignored, which would leave the grace period to run out.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    module_name, function_name = target.split(":")
    result = getattr(importlib.import_module(module_name), function_name)(*json.loads(args_json))
    result.setdefault("peak_rss_mb", status_mb("VmHWM:"))
    text = json.dumps(result)
    if result_file:
        Path(result_file[0]).write_text(text)
    else:  # run by hand to debug one measured function
        print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
