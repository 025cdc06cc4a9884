"""The data root and the one place that defines the path layout under it: it builds
every path and folder name, and parses the keyed folder names back (``date=``, ``run=``).

    <root>/canonical/runs/<run_id>/review_month=YYYY-MM/part-*.parquet   canonical snapshots
    <root>/canonical/CURRENT.json                                         pointer to the live snapshot
    <root>/quarantine/<run_id>/<source-slug>.parquet                      rejected records
    <root>/ingest_reports/<run_id>.json                                   reconciliation per source file
    <root>/_staging/<run_id>/...                                          per-run scratch, removed after use
    <root>/_staged/<file-key>/<run_id>-<index>/part-*.parquet             a source file's staged rows, by hash slot
    <root>/_staged/<file-key>/_STAGED.json                                what was staged (kept while the live snapshot uses it)
    <root>/incoming/date=YYYY-MM-DD/part-*.parquet                        nightly batches to score
    <root>/scored/date=YYYY-MM-DD/...                                     scored batches
    <root>/reports/date=YYYY-MM-DD/...                                    nightly reports
    <root>/models/<version>/...  and  <root>/models/champion.json         model registry
    <root>/teachers/<key>/...                                             fine-tuned teachers, by snapshot and config

The root is any fsspec URL: a local folder, ``gs://bucket/prefix`` or ``memory://``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import posixpath
import re
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import fsspec
import orjson
import pyarrow.fs as pafs

from sentiment_model.core.errors import ConfigError, is_write_refusal, storage_write_error


def _ensure_gcsfs_env() -> None:
    # gcsfs probes for hierarchical-namespace buckets over gRPC unless told not to;
    # against the emulator (and behind firewalls) every operation then waits 60 s.
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def filesystem_for(url: str, storage_options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return ``(filesystem, path)`` for an fsspec URL, with a clear error for unknown schemes."""
    protocol, _, _ = url.partition("://") if "://" in url else ("file", "", "")
    if protocol in ("gs", "gcs"):
        _ensure_gcsfs_env()
    try:
        fs_class = fsspec.get_filesystem_class(protocol)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"Unknown or unavailable storage scheme '{protocol}://' in {url!r}: use a local path, file://, gs:// or memory://") from exc
    if protocol in ("file", "local"):
        local = url.split("://", 1)[1] if "://" in url else url
        try:
            resolved = Path(local).expanduser().resolve()
        except (OSError, RuntimeError) as exc:  # Python 3.11 reports a symlink loop as RuntimeError
            raise ConfigError(f"{url!r} cannot be resolved (a symlink loop?): {exc}") from None
        return fsspec.filesystem("file"), str(resolved)
    try:
        fs = fs_class(**(storage_options or {}))
    except Exception as exc:  # a bad key or token path: the client raises whatever it meets first
        raise ConfigError(f"cannot open {url} with the configured storage options (SENTIMENT_STORAGE_OPTIONS): {redacted(exc, storage_options)}") from None
    return fs, fs._strip_protocol(url).rstrip("/")


def redacted(error: BaseException, storage_options: dict[str, Any] | None) -> str:
    """``error`` as one line, every string of ``storage_options`` (a key, a token, as is
    or URL-quoted: clients put tokens in URLs) replaced: an error message may quote them."""
    message = " ".join(f"{type(error).__name__}: {error}".split())
    for secret in _strings(storage_options or {}):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            message = message.replace(form, "<redacted>")
    return message


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if len(value) >= 4 else []  # a short value ("anon", "") is no secret and would blank the message
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


#: A scored day's pointer file: the live run's parts and counts.
SCORED_MANIFEST = "_MANIFEST.json"
#: A day's folder name, ``date=YYYY-MM-DD`` (incoming, scored, reports), as a regular
#: expression whose group is the date: Python's ``re`` and DuckDB's ``regexp_extract`` read it.
DAY_FOLDER_PATTERN = r"date=(\d{4}-\d{2}-\d{2})"
#: Prefixes of a scored day's run folders: its parts, and its quarantined rows.
RUN_FOLDER_PREFIXES = ("run=", "quarantine-run=")


def day_folder(day: dt.date) -> str:
    """The folder name of ``day``: ``date=YYYY-MM-DD``."""
    return f"date={day.isoformat()}"


def parse_day_folder(name: str) -> dt.date | None:
    """The day a folder name (:func:`day_folder`) stands for; None for any other name."""
    found = re.fullmatch(DAY_FOLDER_PATTERN, name)
    try:
        return dt.date.fromisoformat(found.group(1)) if found else None
    except ValueError:  # date=2015-02-30
        return None


def run_folder(run_id: str, quarantine: bool = False) -> str:
    """The folder name of a scored run's parts (``run=<id>``) or quarantined rows."""
    return f"{RUN_FOLDER_PREFIXES[1 if quarantine else 0]}{run_id}"


def parse_run_folder(name: str) -> str | None:
    """The run id of a :func:`run_folder` name (either kind); None for any other name."""
    for prefix in RUN_FOLDER_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return None


def new_run_id(now: dt.datetime | None = None) -> str:
    """A unique run id that sorts by start time: UTC timestamp to the microsecond (runs
    of one date are ordered by it: the newest wins), plus 6 random hex chars."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class DataRoot:
    """A data root URL with its filesystem and every path the pipeline uses under it."""

    url: str
    #: Credentials may be in here (a token, a key): kept out of reprs, hence log lines and errors.
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)

    @cached_property
    def _fs_and_path(self) -> tuple[fsspec.AbstractFileSystem, str]:
        return filesystem_for(self.url, self.storage_options)

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return self._fs_and_path[0]

    @property
    def path(self) -> str:
        """The root as a path inside :attr:`fs` (protocol stripped)."""
        return self._fs_and_path[1]

    @property
    def is_local(self) -> bool:
        return "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    @cached_property
    def arrow_fs(self) -> pafs.FileSystem:
        """A pyarrow filesystem over the same storage, for dataset reads and writes."""
        if self.is_local:
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    def join(self, *parts: str) -> str:
        return posixpath.join(self.path, *parts)

    def uri(self, path: str) -> str:
        """Full URL of a path inside this root's filesystem (for messages and artifacts)."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    # --- layout -------------------------------------------------------------------------
    def canonical_run_dir(self, run_id: str) -> str:
        return self.join("canonical", "runs", run_id)

    def snapshot_part(self, snapshot: str, relative: str) -> str:
        """A part of a canonical snapshot folder, by the path ``CURRENT.json`` records
        relative to the snapshot (``review_month=YYYY-MM/part-*.parquet``)."""
        return posixpath.join(snapshot, relative)

    def canonical_pointer(self) -> str:
        return self.join("canonical", "CURRENT.json")

    def quarantine_file(self, run_id: str, source_slug: str) -> str:
        return self.join("quarantine", run_id, f"{source_slug}.parquet")

    def ingest_report(self, run_id: str) -> str:
        return self.join("ingest_reports", f"{run_id}.json")

    def staging_dir(self, run_id: str, *parts: str) -> str:
        return self.join("_staging", run_id, *parts)

    def staged_store(self) -> str:
        """Staged rows of every source file the live snapshot was built from (incremental ingest)."""
        return self.join("_staged")

    def staged_file_dir(self, file_key: str, run_id: str | None = None) -> str:
        """One source file's staged rows: ``_STAGED.json`` names the run folder holding its parts."""
        return self.join("_staged", file_key) if run_id is None else self.join("_staged", file_key, run_id)

    def staged_manifest(self, file_key: str) -> str:
        return self.join("_staged", file_key, "_STAGED.json")

    def staged_part(self, stage_dir: str, index: int) -> str:
        """A staged-rows part inside a file's run folder (``staged_file_dir(key, run)``)."""
        return posixpath.join(stage_dir, f"part-{index:05d}.parquet")

    def staged_quarantine(self, stage_dir: str) -> str:
        """The quarantined records of a file, kept beside its staged rows."""
        return posixpath.join(stage_dir, "quarantine.parquet")

    def bucket_scratch(self, run_id: str, bucket: int) -> str:
        """A dedup bucket's conflicting rows, merged into the run's quarantine at the end."""
        return self.staging_dir(run_id, "buckets", f"conflicts-{bucket:05d}.parquet")

    def incoming_dir(self, day: dt.date | None = None) -> str:
        return self.join("incoming") if day is None else self.join("incoming", day_folder(day))

    def scored_dir(self, day: dt.date | None = None) -> str:
        return self.join("scored") if day is None else self.join("scored", day_folder(day))

    def reports_dir(self, day: dt.date) -> str:
        return self.join("reports", day_folder(day))

    def models_dir(self, version: str | None = None) -> str:
        return self.join("models") if version is None else self.join("models", version)

    def champion_pointer(self) -> str:
        return self.join("models", "champion.json")

    def teacher_dir(self, key: str) -> str:
        """A fine-tuned teacher (weights, facts, cached probabilities), keyed by the
        canonical snapshot and the teacher's config (``teacher.cache.teacher_key``)."""
        return self.join("teachers", key)

    def teacher_file(self, key: str, name: str) -> str:
        return posixpath.join(self.teacher_dir(key), name)

    def model_file(self, model_dir: str, name: str) -> str:
        """A file of a model folder (``models_dir(version)``, or a folder given by path)."""
        return posixpath.join(model_dir, name)

    def incoming_part(self, day: dt.date, index: int) -> str:
        return posixpath.join(self.incoming_dir(day), f"part-{index:05d}.parquet")

    def scored_manifest(self, day: dt.date) -> str:
        """The pointer to a day's live scored run: its files and counts."""
        return posixpath.join(self.scored_dir(day), SCORED_MANIFEST)

    def scored_part(self, day: dt.date, run_id: str, index: int) -> str:
        return posixpath.join(self.scored_dir(day), run_folder(run_id), f"part-{index:05d}.parquet")

    def scored_quarantine_part(self, day: dt.date, run_id: str, index: int) -> str:
        return posixpath.join(self.scored_dir(day), run_folder(run_id, quarantine=True), f"part-{index:05d}.parquet")

    def scored_listed_file(self, day: dt.date, name: str) -> str:
        """A file the day's manifest lists (relative to the day's folder)."""
        return posixpath.join(self.scored_dir(day), name)

    def report_file(self, day: dt.date, name: str) -> str:
        return posixpath.join(self.reports_dir(day), name)

    def from_relative(self, relative: str) -> str:
        """A path a pointer stores relative to the root (e.g. CURRENT.json's snapshot)."""
        return self.join(relative)

    def relative(self, path: str) -> str:
        """``path`` relative to the root, as pointers store it."""
        return posixpath.relpath(path, self.path)

    # --- small atomic I/O ---------------------------------------------------------------
    def write_bytes_atomic(self, path: str, data: bytes) -> None:
        """Write a whole object so readers see the old or the new content, never a mix.

        Locally: write a sibling temp file and rename over. On object stores a single-object
        upload is already atomic.
        """
        self.write_files_atomic({path: data})

    def write_files_atomic(self, files: dict[str, bytes], kept: str = "the previous files stay as they were") -> None:
        """Write a set of files that belong together (a report's HTML, markdown, charts and
        summary) so that a failure leaves the previous set whole.

        Locally: every file goes to a sibling temp name first; only when all are written
        (and synced) are they renamed in, which needs no space. A write that fails removes
        the temps and raises one :class:`StorageWriteError` line. On object stores each
        single-object upload is atomic; they are uploaded in ``files``' order (put the file
        readers look at to decide, e.g. summary.json, last).
        """
        for parent in sorted({posixpath.dirname(path) for path in files}):
            try:
                self.fs.makedirs(parent, exist_ok=True)
            except OSError as exc:
                if is_write_refusal(exc):
                    raise storage_write_error(self.uri(parent), exc, kept) from None
                raise
        if not self.is_local:
            for path, data in files.items():
                self.fs.pipe_file(path, data)
            return
        temps: dict[str, str] = {}
        try:
            for path, data in files.items():
                temps[path] = tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
                with open(tmp, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
        except OSError as exc:
            for tmp in temps.values():
                with contextlib.suppress(OSError):
                    os.remove(tmp)
            if is_write_refusal(exc):
                raise storage_write_error(self.uri(path), exc, kept) from None
            raise
        for path, tmp in temps.items():
            os.replace(tmp, path)

    def write_json_atomic(self, path: str, payload: Any) -> None:
        self.write_bytes_atomic(path, orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))

    def read_json(self, path: str) -> Any:
        return orjson.loads(self.fs.cat_file(path))

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def remove_tree(self, path: str, attempts: int = 5) -> None:
        """Remove a folder and its contents; gone already is fine. Another process may be
        clearing the same folder at the same moment (a file vanishes under this one), or
        still writing into it (a superseded scoring run, until it finds itself superseded
        and removes its own folder: the folder is not empty when it is removed last): then
        look again, up to ``attempts`` times."""
        for attempt in range(attempts):
            try:
                if self.fs.exists(path):
                    self.fs.rm(path, recursive=True)
                return
            except FileNotFoundError:
                continue
            except OSError as error:
                if error.errno != errno.ENOTEMPTY or attempt == attempts - 1:
                    raise
