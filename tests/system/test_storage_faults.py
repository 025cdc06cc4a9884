"""Real storage faults on small tmpfs mounts (CI runs as root): a report rebuilt onto a
full disk leaves the previous report whole, and a read-only data root or export folder
is one line, exit 2, before anything is written.

Mounting needs root (or CAP_SYS_ADMIN): elsewhere these tests skip, except under
``CI=true``, where a skip would hide that the case is not tested, so they fail."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import ReportOptions
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.reporting.context import ModelContext
from sentiment_model.reporting.reports import build_report
from tests.conftest import canonical_rows, synthetic_reviews
from tests.unit.cli.test_bad_configuration import fake_champion
from tests.unit.cli.test_bad_configuration import sentiment_process as sentiment
from tests.unit.reporting.test_reports import _write_scored_day

DAY = dt.date(2015, 6, 10)


def _cannot_mount(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the tmpfs storage-fault tests (as root): {reason}")
    pytest.skip(f"needs a tmpfs mount (root): {reason}")


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` for the test, unmounted after."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        _cannot_mount("not running as root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        _cannot_mount(f"mount failed: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def remount_read_only(folder: Path) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def fill_leaving(folder: Path, free: int) -> None:
    """Fill the file system of ``folder`` until about ``free`` bytes are left."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65_536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - free))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]  # among Prefect's log lines


def test_a_report_rebuilt_onto_a_full_disk_leaves_the_previous_report_whole(tmp_path):
    with tmpfs(tmp_path / "disk", "6m") as disk:
        root = DataRoot(str(disk / "root"))
        _write_scored_day(root, DAY, ("negative", "neutral", "positive"), ["negative", "positive", "neutral", "positive"] * 10, ratings=[1, 5, 3, 4] * 10)
        write_incoming_batches(root, canonical_rows(synthetic_reviews(40, seed=3), DAY))
        build_report(root, DAY, ModelContext(), ReportOptions())
        folder = Path(root.reports_dir(DAY))
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        assert before["report.html"].endswith(b"</html>")
        # Room for the charts and half the page: the rebuild fails in the middle of its writes.
        charts = sum(len(data) for name, data in before.items() if name.endswith(".png"))
        fill_leaving(disk, charts + len(before["report.html"]) // 2)
        done = sentiment("report", "--run-date", DAY.isoformat(), "--data-root", root.url, cwd=tmp_path)
        after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert done.returncode == 2, done.stdout + done.stderr
    errors = error_lines(done.stderr)
    assert len(errors) == 1 and "disk full" in errors[0] and "report.html" in errors[0] and "previous report" in errors[0], done.stderr
    assert "Traceback" not in done.stderr, done.stderr  # Prefect's run logs keep their one line each
    assert after == before  # the old report whole: no truncated page, no new/old mix, no temp files


def test_a_read_only_data_root_is_one_line_and_exit_2(tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        root = fake_champion(disk)
        remount_read_only(disk)
        for args in (["report", "--run-date", DAY.isoformat()], ["score", "--run-date", DAY.isoformat()], ["stage-batches"]):
            done = sentiment(*args, "--data-root", root, cwd=tmp_path)
            assert done.returncode == 2, done.stdout + done.stderr
            assert done.stderr.startswith("error: data root ") and "read-only file system" in done.stderr, done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_an_export_into_a_read_only_folder_is_one_line_and_exit_2(tmp_path):
    root = fake_champion(tmp_path)
    with tmpfs(tmp_path / "disk", "1m") as disk:
        remount_read_only(disk)
        done = sentiment("export", "--format", "onnx", "--out", str(disk / "export"), "--data-root", root, cwd=tmp_path)
        assert not (disk / "export").exists()
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: export folder ") and "read-only file system" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
