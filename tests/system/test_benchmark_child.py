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
