"""benchmarks.child.run: a function in a fresh `python -m benchmarks.child` process, its
result handed back through a file with the child's peak memory, and a failure reported
with the child's own output."""

from __future__ import annotations

import os

import pytest

from benchmarks import child


def measured_echo(value: int, text: str) -> dict:
    """Run in the child: what it was given and what it saw of its environment."""
    print("noise on stdout, as Prefect prints after a flow")
    return {"value": value, "text": text, "pid": os.getpid(), "tf_log_level": os.environ.get("TF_CPP_MIN_LOG_LEVEL")}


def measured_failure() -> dict:
    raise ValueError("the measured run broke")


def test_a_function_runs_in_a_child_and_its_result_comes_back() -> None:
    result = child.run(measured_echo, 3, "ünïcode", sample_tree=True)
    assert (result["value"], result["text"]) == (3, "ünïcode")
    assert result["pid"] != os.getpid()
    assert result["tf_log_level"] == os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")
    assert 5 < result["peak_rss_mb"] < 2_000
    assert result["peak_tree_rss_mb"] >= 0


def test_a_failing_child_names_the_function_and_shows_its_traceback() -> None:
    with pytest.raises(RuntimeError, match="measured_failure failed") as failure:
        child.run(measured_failure)
    assert "ValueError: the measured run broke" in str(failure.value)


def measured_sleep(pid_file: str) -> dict:
    """Run in a grandchild: say who it is, then outlive any test unless interrupted (and
    then say so in ``pid_file``.interrupted)."""
    import time

    with open(pid_file, "w") as out:
        out.write(str(os.getpid()))
    try:
        time.sleep(600)
    except KeyboardInterrupt:
        with open(f"{pid_file}.interrupted", "w") as out:
            out.write("SIGINT")
        raise
    return {}


def measured_parent_of_sleeper(pid_file: str) -> dict:
    """Run in a child, as `python -m benchmarks` runs: a benchmark waiting on its own child."""
    child.stop_children_on_sigterm()
    return child.run(measured_sleep, pid_file)


def test_sigterm_to_a_benchmark_stops_the_child_it_waits_on(tmp_path) -> None:
    import signal
    import subprocess
    import sys
    import time

    import psutil

    pid_file = tmp_path / "sleeper.pid"
    target = f"{__name__}:measured_parent_of_sleeper"
    # Started with SIGINT ignored, as a benchmark started in the background (`... &`) is:
    # the children it starts must still stop on the SIGINT it sends them.
    benchmark = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.child", target, f'["{pid_file}"]'],
        env=child.child_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    sleeper = psutil.Process(int(pid_file.read_text()))
    benchmark.send_signal(signal.SIGTERM)
    # The benchmark gives its child child.STOP_GRACE_S to unwind after SIGINT, then kills
    # it; a child that ignored the SIGINT was killed only then (found as a 60 s test).
    assert benchmark.wait(child.STOP_GRACE_S + 30) == 128 + signal.SIGTERM
    sleeper.wait(5)  # raises TimeoutExpired if the grandchild was left running
    assert (tmp_path / "sleeper.pid.interrupted").exists(), "the grandchild was killed, not stopped by SIGINT"
