"""Every error a user can cause: one clear line on stderr, exit code 2, nothing written.

Each case runs the `sentiment` entry point (``flows.cli.main``) in this process, with its
own arguments, environment and working folder; one smoke test runs it as a real process
(the exit code and stderr a shell sees)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).parents[3]
VERSION = "20260101T000000Z-feedf00d"
GOOD_RECORD = '{"reviewerID": "A1", "asin": "B1", "reviewText": "works well", "overall": 5, "unixReviewTime": 1400000000}\n'


def sentiment_process(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def sentiment(monkeypatch, capsys):
    """``sentiment(*args, cwd=, env=)``: the entry point run in this process; returns
    (exit code, stdout, stderr)."""
    from flows.cli import main

    def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            patch.chdir(cwd)
            patch.setattr(sys, "argv", ["sentiment", *args])
            capsys.readouterr()
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            out = capsys.readouterr()
        return subprocess.CompletedProcess(["sentiment", *args], code, out.out, out.err)

    return run


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


def fake_champion(tmp_path: Path, champion: str | None = None, vocabulary: str = '{"tokens": ["good", "bad"]}') -> str:
    """A data root whose registry files are checked before the model is ever loaded."""
    root = tmp_path / "root"
    folder = root / "models" / VERSION
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"not loaded by these checks")
    (folder / "config.json").write_text('{"max_length": 8}')
    (folder / "vocabulary.json").write_text(vocabulary)
    (root / "models" / "champion.json").write_text(champion if champion is not None else f'{{"version": "{VERSION}"}}')
    return str(root)


def truncated_wide_champion(tmp_path: Path) -> str:
    """A wide-and-deep champion whose wide.npz was cut short (a copy interrupted)."""
    import io

    import numpy as np

    root = fake_champion(tmp_path)
    folder = Path(root, "models", VERSION)
    (folder / "config.json").write_text('{"max_length": 8, "wide_file": "wide.npz"}')
    buffer = io.BytesIO()
    np.savez_compressed(buffer, terms=np.zeros(1000, np.uint8), idf=np.ones(10))
    (folder / "wide.npz").write_bytes(buffer.getvalue()[:200])
    return root


def a_file(path: Path) -> str:
    path.write_text("x")
    return str(path)


def file_root(tmp_path: Path, *below: str) -> str:
    """A data root that is (or lies under) a file."""
    (tmp_path / "root").write_text("x")
    return str(tmp_path.joinpath("root", *below))


def symlink_loop(tmp_path: Path) -> str:
    os.symlink(tmp_path / "root", tmp_path / "root")
    return str(tmp_path / "root")


def manifest(tmp_path: Path, entries: str, base_uri: str = "raw") -> str:
    (tmp_path / "raw").mkdir(exist_ok=True)
    (tmp_path / "raw" / "good.jsonl").write_text(GOOD_RECORD)
    path = tmp_path / "sources.toml"
    path.write_text(f'base_uri = "{base_uri}"\n' + entries)
    return str(path)


GOOD_ENTRY = '[[sources]]\nname = "good"\nuri = "good.jsonl"\npreset = "mcauley_json"\n'


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: case -> (setup(tmp_path) -> (args, extra env), the message stderr must hold)
Case = Callable[[Path], tuple[list[str], dict[str, str]]]
CASES: dict[str, tuple[Case, str]] = {
    "unknown data-root scheme": (lambda t: (["ingest", "--data-root", "nosuch://bucket/x"], {}), "error: Unknown or unavailable storage scheme 'nosuch://'"),
    "model version that does not exist": (
        lambda t: (["score", "--data-root", str(t / "root"), "--model", "20990101T000000Z-deadbeef"], {}),
        "error: model version '20990101T000000Z-deadbeef' does not exist",
    ),
    "no champion (score)": (lambda t: (["score", "--data-root", str(t / "root")], {}), "error: no champion model under"),
    "no champion (explain)": (lambda t: (["explain", "great", "--data-root", str(t / "root")], {}), "error: no champion model under"),
    "truncated champion.json": (
        lambda t: (["score", "--data-root", fake_champion(t, champion='{"version": "2026')], {}),
        "champion.json is not valid JSON",
    ),
    "champion.json without a version": (
        lambda t: (["explain", "ok", "--data-root", fake_champion(t, champion='{"macro_f1": 0.7}')], {}),
        "champion.json lacks version",
    ),
    "champion.json whose version is not a string": (
        lambda t: (["score", "--data-root", fake_champion(t, champion='{"version": 42}')], {}),
        "champion.json: version 42 is not a model version name: the file is damaged",
    ),
    "truncated wide.npz (score)": (
        lambda t: (["score", "--data-root", truncated_wide_champion(t)], {}),
        f"{VERSION}/wide.npz: File is not a zip file: the file is damaged or truncated",
    ),
    "truncated wide.npz (export)": (
        lambda t: (["export", "--format", "onnx", "--out", str(t / "out"), "--data-root", truncated_wide_champion(t)], {}),
        "wide.npz: File is not a zip file: the file is damaged or truncated",
    ),
    "export onto a regular file": (
        lambda t: (["export", "--format", "onnx", "--out", a_file(t / "model.onnx"), "--data-root", fake_champion(t)], {}),
        "export folder " + "{tmp}/model.onnx is a file, not a folder",
    ),
    "truncated vocabulary.json": (
        lambda t: (["score", "--data-root", fake_champion(t, vocabulary='{"tokens": ["good", "ba')], {}),
        f"{VERSION}/vocabulary.json is not valid JSON",
    ),
    "data root is a file": (lambda t: (["score", "--data-root", file_root(t)], {}), "is a file, not a folder"),
    "data root under a file": (lambda t: (["ingest", "--data-root", file_root(t, "sub")], {}), "is a file, not a folder"),
    "data root is a symlink loop": (lambda t: (["report", "--run-date", "2015-08-31", "--data-root", symlink_loop(t)], {}), "cannot be resolved (a symlink loop?)"),
    "empty data root": (lambda t: (["stage-batches", "--data-root", ""], {}), "the data root is empty"),
    "empty data root from the environment": (lambda t: (["report", "--run-date", "2015-08-31"], {"SENTIMENT_DATA_ROOT": ""}), "the data root is empty"),
    "storage options not JSON": (lambda t: (["ingest", "--data-root", str(t / "root")], {"SENTIMENT_STORAGE_OPTIONS": '{"token": anon'}), 'error parsing value for field "storage_options"'),
    "CHUNK_ROWS=0": (lambda t: (["ingest", "--data-root", str(t / "root")], {"SENTIMENT_CHUNK_ROWS": "0"}), "chunk_rows (SENTIMENT_CHUNK_ROWS): Input should be greater than 0"),
    "--chunk-rows 0": (lambda t: (["ingest", "--data-root", str(t / "root"), "--chunk-rows", "0"], {}), "chunk_rows (SENTIMENT_CHUNK_ROWS): Input should be greater than 0"),
    "unknown preset": (
        lambda t: (["ingest", "--data-root", str(t / "root"), "--manifest", manifest(t, GOOD_ENTRY + '[[sources]]\nname = "odd"\nuri = "good.jsonl"\npreset = "nope"\n')], {}),
        "source 'odd': unknown preset 'nope'",
    ),
    "unknown encoding": (
        lambda t: (["ingest", "--data-root", str(t / "root"), "--manifest", manifest(t, GOOD_ENTRY.replace("preset = ", 'encoding = "utf-9"\npreset = '))], {}),
        "source 'good': encoding: unknown encoding 'utf-9'",
    ),
    "TOML syntax error": (lambda t: (["ingest", "--data-root", str(t / "root"), "--manifest", manifest(t, "[[sources]\nname = 1\n")], {}), "sources.toml is not valid TOML"),
    "missing manifest": (lambda t: (["ingest", "--data-root", str(t / "root"), "--manifest", str(t / "nope.toml")], {}), "nope.toml does not exist"),
    "glob matching nothing": (
        lambda t: (["ingest", "--data-root", str(t / "root"), "--manifest", manifest(t, GOOD_ENTRY + '[[sources]]\nname = "none"\nuri = "2015-*.jsonl.gz"\npreset = "mcauley_json"\n')], {}),
        "source 'none': no file matches '2015-*.jsonl.gz'",
    ),
    "impossible date": (lambda t: (["score", "--run-date", "2015-02-30", "--data-root", str(t / "root")], {}), "error: Invalid value for '--run-date'"),
    "bad timezone": (lambda t: (["score", "--data-root", str(t / "root")], {"SENTIMENT_TIMEZONE": "Mars/Olympus_Mons"}), "unknown timezone 'Mars/Olympus_Mons'"),
    "unreachable Dask scheduler": (
        lambda t: (["score", "--run-date", "2015-08-31", "--data-root", fake_champion(t), "--dask-address", f"tcp://127.0.0.1:{closed_port()}"], {}),
        "cannot reach the Dask scheduler at tcp://127.0.0.1:",
    ),
    "unreachable Dask scheduler (ingest)": (
        lambda t: (["ingest", "--data-root", str(t / "root"), "--manifest", manifest(t, GOOD_ENTRY), "--dask-address", f"tcp://127.0.0.1:{closed_port()}"], {}),
        "cannot reach the Dask scheduler at tcp://127.0.0.1:",
    ),
    "token path that is no file (gs://)": (
        lambda t: (["ingest", "--data-root", "gs://review-sentiment/root"], {"SENTIMENT_STORAGE_OPTIONS": '{"token": "/nonexistent/key.json"}'}),
        "error: cannot open gs://review-sentiment/root with the configured storage options (SENTIMENT_STORAGE_OPTIONS)",
    ),
    "inline key that is no credential (gs://)": (
        lambda t: (["score", "--data-root", "gs://review-sentiment/root"], {"SENTIMENT_STORAGE_OPTIONS": '{"token": {"type": "service_account", "private_key": "NOT-A-KEY-5ecret"}}'}),
        "error: cannot open gs://review-sentiment/root with the configured storage options (SENTIMENT_STORAGE_OPTIONS)",
    ),
    "reversed date range (score)": (
        lambda t: (["score", "--run-date", "2015-08-31", "--end-date", "2015-08-30", "--data-root", fake_champion(t)], {}),
        "--end-date 2015-08-30 is before --run-date 2015-08-31",
    ),
    "end date without a run date (score)": (
        lambda t: (["score", "--end-date", "2015-08-30", "--data-root", fake_champion(t)], {}),
        "--end-date 2015-08-30 needs a --run-date",
    ),
    "reversed date range (stage-batches)": (
        lambda t: (["stage-batches", "--start", "2015-08-31", "--end", "2015-08-01", "--data-root", str(t / "root")], {}),
        "--end 2015-08-01 is before --start 2015-08-31",
    ),
    "unknown evaluate format": (
        lambda t: (["evaluate", "--source", str(t), "--format", "nope", "--data-root", fake_champion(t), "--out", str(t / "m.json")], {}),
        "--format 'nope' is neither a preset",
    ),
}


def check_user_error(tmp_path: Path, case: str, sentiment: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    setup, message = CASES[case]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args, env = setup(tmp_path)
    before = tree(tmp_path)
    done = sentiment(*args, cwd=cwd, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and message.format(tmp=tmp_path) in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # one line, no traceback
    assert "5ecret" not in done.stderr and "/nonexistent/key.json" not in done.stderr  # a key is never echoed
    assert tree(tmp_path) == before  # nothing written: not under the root, not in the cwd


@pytest.mark.parametrize("case", list(CASES))
def test_user_error_is_one_line_exit_2_and_writes_nothing(tmp_path, case, sentiment):
    check_user_error(tmp_path, case, sentiment)


@pytest.mark.parametrize("case", ["truncated champion.json", "storage options not JSON"])
def test_user_error_as_a_real_process(tmp_path, case):
    """The same contract as a shell sees it: exit status 2, one line on stderr."""
    check_user_error(tmp_path, case, sentiment_process)


def test_evaluate_on_a_file_without_ratings(tiny_champion_root, tmp_path, sentiment):
    unrated = tmp_path / "unrated.jsonl"
    unrated.write_text(GOOD_RECORD.replace('"overall": 5, ', "") * 3)
    root = Path(tiny_champion_root.path)
    before = tree(root), tree(tmp_path)
    done = sentiment("evaluate", "--source", str(unrated), "--format", "mcauley_json", "--data-root", str(root), "--out", str(tmp_path / "m.json"), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {unrated}: no rated review to evaluate against (3 records read; quarantined: {{'rating missing': 3}})"]
    assert (tree(root), tree(tmp_path)) == before


def test_champion_pointing_at_a_missing_folder(tmp_path, sentiment):
    root = tmp_path / "root"
    (root / "models").mkdir(parents=True)
    (root / "models" / "champion.json").write_text('{"version": "20990101T000000Z-deadbeef"}')
    done = sentiment("score", "--data-root", str(root), cwd=tmp_path)
    assert done.returncode == 2
    assert "names 20990101T000000Z-deadbeef, but" in done.stderr and "has no model.keras" in done.stderr
    assert sorted(p.name for p in root.rglob("*")) == ["champion.json", "models"]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), True),
        (TimeoutError("timed out"), True),
        (OSError(errno.EIO, "I/O error"), True),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), False),
        (OSError(errno.ELOOP, "cannot be resolved (a symlink loop?)"), False),
        (PermissionError(errno.EACCES, "Permission denied"), False),
        (OSError(errno.EACCES, "Permission denied"), False),
        (FileNotFoundError(errno.ENOENT, "No such file"), False),
        (IsADirectoryError(errno.EISDIR, "Is a directory"), False),
    ],
)
def test_only_storage_hiccups_are_retried(error, transient):
    from sentiment_model.core.errors import is_transient

    assert is_transient(error) is transient


def test_a_file_named_with_glob_characters_is_read_literally(tmp_path):
    from sentiment_model.ingest.sources import build_spec, resolve_files

    (tmp_path / "reviews[2015].jsonl").write_text(GOOD_RECORD)
    (tmp_path / "reviews2.jsonl").write_text(GOOD_RECORD)  # what the pattern [2015] would match
    (tmp_path / "what?.jsonl").write_text(GOOD_RECORD)
    spec = build_spec({"name": "literal", "uri": "reviews[2015].jsonl", "preset": "mcauley_json"})
    assert resolve_files(spec, str(tmp_path)) == [str(tmp_path / "reviews[2015].jsonl")]
    spec = build_spec({"name": "literal", "uri": "what?.jsonl", "preset": "mcauley_json"})
    assert resolve_files(spec, str(tmp_path)) == [str(tmp_path / "what?.jsonl")]
    spec = build_spec({"name": "pattern", "uri": "reviews[0-9].jsonl", "preset": "mcauley_json"})
    assert resolve_files(spec, str(tmp_path)) == [str(tmp_path / "reviews2.jsonl")]  # still a glob when no such file
