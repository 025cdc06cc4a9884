"""The benchmark package without running a benchmark: every module imports (no framework
at import), the one child-process environment, and `python -m benchmarks NAME` reaching
each benchmark under the results-file name it always had."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil

import pytest

import benchmarks
from benchmarks import child
from benchmarks.__main__ import BENCHMARKS, NAMES, names_to_run, parser, run_benchmark
from benchmarks.common import PROJECT_ROOT


def test_every_benchmark_module_imports() -> None:
    names = [module.name for module in pkgutil.iter_modules(benchmarks.__path__)]
    for name in names:
        importlib.import_module(f"benchmarks.{name}")
    assert {"child", "in_process", "scoring", "nightly", "ingest_scale", "serving", "serving_hostile"} <= set(names)
    assert "runs" not in names  # the programs kept in strings are gone


def test_child_env_is_quiet_offline_and_finds_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in child.CHILD_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = child.child_env()
    assert env["PYTHONPATH"] == f"{PROJECT_ROOT}{os.pathsep}/elsewhere"
    assert env["KERAS_BACKEND"] == "tensorflow"
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_LOGGING_LEVEL"] == "WARNING"
    assert env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "120"
    assert env["PATH"] == os.environ["PATH"]  # the rest of this environment travels


def test_child_env_lets_the_user_and_the_caller_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    env = child.child_env(PREFECT_LOGGING_LEVEL="DEBUG")
    assert env["KERAS_BACKEND"] == "jax"
    assert env["PREFECT_LOGGING_LEVEL"] == "DEBUG"
    assert env["PYTHONPATH"] == str(PROJECT_ROOT)


# name, extra options -> the results file it writes (before "-quick")
RESULT_FILES = {
    ("ingest",): "ingest",
    ("tokenize",): "tokenize",
    ("training",): "training",
    ("scoring",): "scoring",
    ("scoring", "--reviews", "50000"): "scoring-50000",
    ("orchestration",): "orchestration",
    ("load",): "load",
    ("load", "--reviews", "1000000"): "load",
    ("report", "--reviews", "20000"): "report-20000",
    ("ingest-scale",): "ingest-scale-7",
    ("quality",): "quality",
    ("quality-9k",): "quality-9k",
    ("cross-source",): "cross-source",
    ("cross-source", "--families", "AWS TSVs"): "cross-source-awstsvs",
    ("behaviour",): "behaviour",
    ("behaviour", "--reviews", "9000"): "behaviour-9000",
    ("monitoring",): "monitoring",
    ("serving",): "serving",
    ("serving-hostile",): "serving-hostile",
}


@pytest.fixture
def stubbed_benchmarks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Every benchmark function replaced by one that records its call."""
    from benchmarks import in_process, ingest_scale, monitoring, nightly, quality, scoring, serving, serving_hostile
    from benchmarks.behaviour import evaluate

    calls: list[tuple[str, dict]] = []

    def stub(label: str):
        def record(*args, **kwargs):
            calls.append((label, kwargs))
            return {"reviews": 7}

        return record

    targets = {in_process: ("ingest", "tokenize", "training"), nightly: ("load", "report", "orchestration"), quality: ("quality", "cross_source")}
    targets |= {scoring: ("scoring",), ingest_scale: ("ingest_scale",), monitoring: ("monitoring_benchmark",), serving: ("serving",), serving_hostile: ("hostile",), evaluate: ("behaviour",)}
    for module, functions in targets.items():
        for function in functions:
            monkeypatch.setattr(module, function, stub(f"{module.__name__}.{function}"))
    return calls


@pytest.mark.parametrize("argv", list(RESULT_FILES), ids=" ".join)
def test_each_name_runs_its_benchmark_under_its_results_file(argv: tuple[str, ...], stubbed_benchmarks: list) -> None:
    args = parser().parse_args([*argv, "--quick"])
    result, file_name = run_benchmark(args.name, args)
    assert file_name == RESULT_FILES[argv]
    assert result == {"reviews": 7} and len(stubbed_benchmarks) == 1
    assert stubbed_benchmarks[0][1]["quick"] is True


@pytest.mark.parametrize(("extra", "epochs"), [((), 1), (("--teacher-epochs", "2"), 2)])
def test_student_mode_hands_each_model_benchmark_the_teachers_budget_and_epochs(extra: tuple[str, ...], epochs: int, stubbed_benchmarks: list) -> None:
    args = parser().parse_args(["quality,behaviour", "--teacher-minutes", "80", *extra])
    assert [run_benchmark(name, args)[1] for name in names_to_run(args.name)] == ["quality-student", "behaviour-student"]
    teachers = [kwargs["teacher"] for _, kwargs in stubbed_benchmarks]
    assert [(t.budget_minutes, t.epochs) for t in teachers] == [(80.0, epochs)] * 2
    plain = parser().parse_args(["quality"])  # no --teacher-minutes: no teacher
    run_benchmark("quality", plain)
    assert plain.teacher_minutes is None and stubbed_benchmarks[-1][1]["teacher"] is None


def test_names_joined_by_commas_run_in_their_order_and_all_means_the_fast_ones() -> None:
    assert names_to_run(parser().parse_args(["quality,behaviour"]).name) == ("quality", "behaviour")
    assert names_to_run("all") == BENCHMARKS
    assert names_to_run("behaviour,all,scoring") == ("behaviour", *BENCHMARKS)


def test_help_lists_every_name() -> None:
    text = parser().format_help()
    assert all(f"  {name} " in text for name in NAMES)
    assert {name for argv in RESULT_FILES for name in argv[:1]} == set(NAMES) - {"all"}


def test_an_unknown_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["nightly"], ["quality,nightly"]):
        with pytest.raises(SystemExit) as exit_info:
            parser().parse_args(argv)
        assert exit_info.value.code == 2
        assert "invalid choice: 'nightly'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no benchmark named"):
        run_benchmark("nightly", argparse.Namespace())
