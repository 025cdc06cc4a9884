"""`DataRoot` (sentiment_model/core/layout.py) names every file under the data root: no other
module of the library, the tasks or the flows joins paths itself."""

import ast
import datetime as dt
import errno
from pathlib import Path

import pytest

from sentiment_model.core.layout import DataRoot

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CHECKED = ("sentiment_model", "tasks", "flows")
# Joins that are not under the data root: a manifest entry under the sources' base URI.
ALLOWED = {("sentiment_model/ingest/sources.py", "posixpath.join")}


def path_joins(source: str) -> list[tuple[int, str]]:
    """(line, call) for posixpath.join(...) and <anything>.join(...) on a DataRoot-like
    name (``root``/``self.root``), the two ways a path under the root gets built."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
            owner = ast.unparse(node.func.value)
            if owner == "posixpath" or owner.endswith("root"):
                found.append((node.lineno, f"{owner}.join"))
    return found


def test_no_module_outside_layout_joins_paths_under_the_root():
    offenders = []
    for package in CHECKED:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if relative == "sentiment_model/core/layout.py":
                continue
            for line, call in path_joins(path.read_text(encoding="utf-8")):
                if (relative, call) not in ALLOWED:
                    offenders.append(f"{relative}:{line}: {call}")
    assert not offenders, "build the path with a DataRoot method instead:\n" + "\n".join(offenders)


def test_the_checker_finds_a_join():
    assert path_joins("import posixpath\nx = posixpath.join(a, 'b')\ny = root.join('c')\nz = ', '.join(s)") == [(2, "posixpath.join"), (3, "root.join")]


def test_layout_names_every_scored_and_model_file():
    root = DataRoot("/data")
    day = dt.date(2026, 1, 2)
    assert root.scored_manifest(day) == "/data/scored/date=2026-01-02/_MANIFEST.json"
    assert root.scored_part(day, "r1", 3) == "/data/scored/date=2026-01-02/run=r1/part-00003.parquet"
    assert root.scored_quarantine_part(day, "r1", 3) == "/data/scored/date=2026-01-02/quarantine-run=r1/part-00003.parquet"
    assert root.scored_listed_file(day, "run=r1/part-00000.parquet") == "/data/scored/date=2026-01-02/run=r1/part-00000.parquet"
    assert root.incoming_part(day, 0) == "/data/incoming/date=2026-01-02/part-00000.parquet"
    assert root.report_file(day, "report.html") == "/data/reports/date=2026-01-02/report.html"
    assert root.model_file(root.models_dir("v1"), "model.keras") == "/data/models/v1/model.keras"
    assert root.from_relative(root.relative("/data/canonical/runs/x")) == "/data/canonical/runs/x"


def folder_with_a_part(tmp_path: Path) -> tuple[DataRoot, Path]:
    root = DataRoot(str(tmp_path / "root"))
    folder = tmp_path / "root" / "scored" / "date=2016-04-02" / "run=older"
    folder.mkdir(parents=True)
    (folder / "part-00000.parquet").write_bytes(b"part")
    return root, folder


def test_a_folder_written_into_while_it_is_removed_goes_on_a_second_look(tmp_path, monkeypatch):
    """A newer scoring run removes an older run's folder while that run still writes its
    next part: the last rmdir finds the folder not empty (found by RACE_REPEAT=50)."""
    root, folder = folder_with_a_part(tmp_path)
    real_rm, calls = root.fs.rm, []

    def rm_while_the_older_run_writes(path, recursive=False):
        calls.append(path)
        if len(calls) == 1:
            real_rm(str(folder / "part-00000.parquet"))
            (folder / "part-00001.parquet").write_bytes(b"next part")
            raise OSError(errno.ENOTEMPTY, "Directory not empty", str(folder))
        return real_rm(path, recursive=recursive)

    monkeypatch.setattr(root.fs, "rm", rm_while_the_older_run_writes)
    root.remove_tree(str(folder))
    assert len(calls) == 2 and not folder.exists()
    root.remove_tree(str(folder))  # gone already: fine


def test_removing_a_folder_still_raises_what_a_second_look_cannot_mend(tmp_path, monkeypatch):
    root, folder = folder_with_a_part(tmp_path)
    calls = []

    def refuse(path, recursive=False):
        calls.append(path)
        raise OSError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(root.fs, "rm", refuse)
    with pytest.raises(PermissionError):
        root.remove_tree(str(folder))
    assert len(calls) == 1

    def never_empty(path, recursive=False):
        calls.append(path)
        raise OSError(errno.ENOTEMPTY, "Directory not empty", path)

    monkeypatch.setattr(root.fs, "rm", never_empty)
    with pytest.raises(OSError, match="not empty"):
        root.remove_tree(str(folder), attempts=3)
    assert len(calls) == 1 + 3
