"""Ingest steps: one source file -> staged rows; all staged rows -> a deduplicated canonical snapshot.

Per file, records are read in chunks, normalized and staged as Parquet parts sorted by
a hash of review_id (``ingest/dedup.py``), and rejected records go to a quarantine file.
A file unchanged since it was last staged is not read again (``ingest/staged.py``). A
file that fails part-way (truncated gzip, unreadable) leaves nothing behind: its staging
is removed and the error names the file. Then each hash bucket is deduplicated on its
own (first copy in manifest order wins) into the canonical snapshot, partitioned by
review month; a pointer file (``canonical/CURRENT.json``) is swapped atomically to make
it live.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import posixpath
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sentiment_model.core.errors import ConfigError, SourceFormatError, is_compression_error, is_transient
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.pointers import swap_json
from sentiment_model.core.schema import CANONICAL_SCHEMA, QUARANTINE_SCHEMA
from sentiment_model.core.settings import INGEST_BUCKET_ROWS, INGEST_CHUNK_ROWS
from sentiment_model.ingest.canonical import damaged_snapshot_parts, snapshot_part_sizes
from sentiment_model.ingest.chunks import Rejected
from sentiment_model.ingest.dedup import (
    BucketedStageWriter,
    BucketOutcome,
    bucket_count,
    dedup_bucket,
    merge_conflicts,
)
from sentiment_model.ingest.normalize import normalize_chunk
from sentiment_model.ingest.readers import read_raw_chunks
from sentiment_model.ingest.sources import SourceSpec
from sentiment_model.ingest.staged import file_key, load_staged, remove_unused_staged, save_staged, source_identity


class EmptyIngestRun(ConfigError):
    """The run produced no canonical rows: the live snapshot is left as it is."""


class SourceFileError(RuntimeError):
    """A whole source file failed; the message names the file.

    ``transient`` is true for storage errors worth retrying (connection resets, timeouts),
    false for a file that is broken and will fail the same way again.
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass
class FileResult:
    """What happened to one source file. ``canonical``/``duplicates`` are filled by the merge;
    ``reused``: its staged rows were kept from an earlier run (the file had not changed)."""

    source_name: str
    source: str
    file_index: int
    records_read: int = 0
    valid: int = 0
    quarantined: int = 0
    canonical: int = 0
    duplicates: int = 0
    staged_key: str | None = None
    staged_parts: list[str] = field(default_factory=list)
    reused: bool = False
    quarantine_file: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def slugify(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[-120:]


def _reason_family(reason: str) -> str:
    """Group reasons for the summary: 'rating outside 1-5: '6'' -> 'rating outside 1-5'."""
    return reason.split(":", 1)[0]


def _quarantine_table(rejected: list[Rejected], source: str, ingested_at: dt.datetime) -> pa.Table:
    return pa.table(
        {
            "source": [source] * len(rejected),
            "record_number": [r.record_number for r in rejected],
            "raw": [r.raw for r in rejected],
            "quarantine_reason": [r.reason for r in rejected],
            "ingested_at": [ingested_at] * len(rejected),
        },
        schema=QUARANTINE_SCHEMA,
    )


def ingest_file(
    root: DataRoot,
    run_id: str,
    spec: SourceSpec,
    source: str,
    file_index: int,
    *,
    ingested_at: dt.datetime,
    chunk_rows: int = INGEST_CHUNK_ROWS,
    source_storage_options: dict[str, Any] | None = None,
    reuse: bool = True,
) -> FileResult:
    """Read, normalize and stage one source file, or reuse its staged rows when the same
    file (same size and version) was staged before and ``reuse`` is on. Raises
    :class:`SourceFileError` naming the file when it cannot be read to the end; nothing
    of it is kept then."""
    result = FileResult(source_name=spec.name, source=source, file_index=file_index)
    reasons: Counter[str] = Counter()
    stage_dir: str | None = None
    try:
        identity = source_identity(source, source_storage_options)
        result.staged_key = file_key(spec, source, identity) if identity else f"unversioned-{run_id}-{file_index:05d}"
        staged = load_staged(root, result.staged_key) if reuse and identity else None
        if staged is not None:
            return _reuse_staged(root, run_id, result, staged)
        stage_dir = root.staged_file_dir(result.staged_key, f"{run_id}-{file_index:05d}")
        staged_quarantine = root.staged_quarantine(stage_dir)
        root.fs.makedirs(stage_dir, exist_ok=True)
        writer = BucketedStageWriter(root, stage_dir)
        with (
            fsspec.open(source, "rb", compression="infer", **(source_storage_options or {})) as stream,
            root.fs.open(staged_quarantine, "wb") as quarantine_out,
            pq.ParquetWriter(quarantine_out, QUARANTINE_SCHEMA, compression="zstd") as quarantine_writer,
        ):
            for chunk in read_raw_chunks(spec, stream, chunk_rows):
                canonical, rejected = normalize_chunk(chunk.table, spec, source, ingested_at)
                rejected = chunk.rejected + rejected
                result.records_read += chunk.table.num_rows + len(chunk.rejected)
                result.valid += canonical.num_rows
                result.quarantined += len(rejected)
                reasons.update(_reason_family(r.reason) for r in rejected)
                writer.write(canonical)
                if rejected:
                    quarantine_writer.write_table(_quarantine_table(rejected, source, ingested_at))
            writer.flush()
    except Exception as exc:  # noqa: BLE001 - any failure fails this file only, with its name
        if stage_dir is not None:
            root.remove_tree(stage_dir)
        if is_compression_error(exc):
            kind = "truncated or corrupt compressed file"
        elif isinstance(exc, SourceFormatError):
            kind = "unreadable source"
        else:
            kind = type(exc).__name__
        raise SourceFileError(f"{source}: {kind}: {exc}", transient=is_transient(exc)) from exc
    result.staged_parts = writer.parts
    result.quarantine_reasons = dict(reasons)
    if not result.quarantined:
        root.fs.rm(staged_quarantine)
    save_staged(
        root,
        result.staged_key,
        {
            "source": source,
            "identity": identity,
            "folder": stage_dir,
            "parts": writer.parts,
            "quarantine": staged_quarantine if result.quarantined else None,
            **{k: getattr(result, k) for k in ("records_read", "valid", "quarantined", "quarantine_reasons")},
        },
    )
    _publish_file_quarantine(root, run_id, result, staged_quarantine if result.quarantined else None)
    return result


def _publish_file_quarantine(root: DataRoot, run_id: str, result: FileResult, staged_quarantine: str | None) -> None:
    """Copy a file's quarantined records into the run's quarantine folder."""
    if staged_quarantine is None:
        return
    final = root.quarantine_file(run_id, f"{result.file_index:05d}-{slugify(posixpath.basename(result.source))}")
    root.fs.makedirs(posixpath.dirname(final), exist_ok=True)
    root.fs.copy(staged_quarantine, final)
    result.quarantine_file = root.uri(final)


def _reuse_staged(root: DataRoot, run_id: str, result: FileResult, staged: dict[str, Any]) -> FileResult:
    """A file staged by an earlier run and unchanged since: its rows and counts as they were."""
    for name in ("records_read", "valid", "quarantined", "quarantine_reasons"):
        setattr(result, name, staged[name])
    result.staged_parts, result.reused = staged["parts"], True
    _publish_file_quarantine(root, run_id, result, staged["quarantine"])
    return result


def read_source_rows(spec: SourceSpec, source: str, *, chunk_rows: int = INGEST_CHUNK_ROWS, storage_options: dict[str, Any] | None = None) -> tuple[pa.Table, int, Counter[str]]:
    """Read one raw file straight into canonical rows in memory (no staging, no dedup
    across files): for scoring or evaluating a labelled dump. Returns
    ``(rows deduplicated by review_id, records read, quarantine reasons)``."""
    ingested_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    tables, records, reasons = [], 0, Counter()
    try:
        with fsspec.open(source, "rb", compression="infer", **(storage_options or {})) as stream:
            for chunk in read_raw_chunks(spec, stream, chunk_rows):
                canonical, rejected = normalize_chunk(chunk.table, spec, source, ingested_at)
                records += chunk.table.num_rows + len(chunk.rejected)
                reasons.update(_reason_family(r.reason) for r in chunk.rejected + rejected)
                tables.append(canonical)
    except Exception as exc:  # noqa: BLE001
        raise SourceFileError(f"{source}: {type(exc).__name__}: {exc}", transient=is_transient(exc)) from exc
    table = pa.concat_tables(tables) if tables else CANONICAL_SCHEMA.empty_table()
    _, first = np.unique(np.asarray(table.column("review_id").to_pylist(), dtype=object), return_index=True)
    return table.take(pa.array(np.sort(first), type=pa.int64())), records, reasons


def staged_inputs(results: list[FileResult]) -> list[tuple[int, list[str]]]:
    """``(file_index, staged parts)`` of every successful file, in manifest order: what each
    dedup bucket reads."""
    return [(r.file_index, r.staged_parts) for r in sorted(results, key=lambda r: r.file_index) if r.ok]


def plan_buckets(results: list[FileResult], bucket_rows: int = INGEST_BUCKET_ROWS) -> int:
    """How many dedup buckets this run uses: about ``bucket_rows`` staged rows each."""
    return bucket_count(sum(r.valid for r in results if r.ok), bucket_rows)


def apply_bucket_outcomes(root: DataRoot, run_id: str, results: list[FileResult], outcomes: list[BucketOutcome]) -> list[FileResult]:
    """Each bucket's counts added to its files (on copies: a retried publish must not count
    twice), and the run's conflicting duplicates gathered in one quarantine file."""
    merged = {r.file_index: dataclasses.replace(r, quarantine_reasons=dict(r.quarantine_reasons)) for r in results}
    for outcome in outcomes:
        for file_index, (canonical, duplicates, conflicts) in outcome.counts.items():
            result = merged[file_index]
            result.canonical += canonical
            result.duplicates += duplicates
            if conflicts:
                result.quarantined += conflicts
                result.quarantine_reasons["conflicting duplicate"] = result.quarantine_reasons.get("conflicting duplicate", 0) + conflicts
    merge_conflicts(root, run_id, outcomes)
    return [merged[r.file_index] for r in results]


def write_canonical_snapshot(root: DataRoot, run_id: str, results: list[FileResult], ingested_at: dt.datetime | None = None, bucket_rows: int = INGEST_BUCKET_ROWS) -> list[BucketOutcome]:
    """Deduplicate the staged rows of the successful files into the run's snapshot, one
    bucket after another in this process (the flow runs the buckets as parallel tasks)."""
    ingested_at = ingested_at or dt.datetime.now(dt.UTC).replace(microsecond=0)
    inputs, buckets = staged_inputs(results), plan_buckets(results, bucket_rows)
    return [dedup_bucket(root, run_id, bucket, buckets, inputs, ingested_at) for bucket in range(buckets)]


def live_report_if_unchanged(root: DataRoot, results: list[FileResult]) -> dict[str, Any] | None:
    """The live snapshot's report when this run found exactly its files, in the same
    order, all unchanged (so deduplicating again would give the same snapshot)."""
    if not results or not all(r.ok and r.reused for r in results) or not root.exists(root.canonical_pointer()):
        return None
    pointer = root.read_json(root.canonical_pointer())
    report_path = root.from_relative(pointer["report"])
    if not root.exists(report_path) or not root.exists(root.from_relative(pointer["snapshot"])):
        return None
    if damaged_snapshot_parts(root, pointer):  # a truncated part: rebuild, do not keep it live
        return None
    report = root.read_json(report_path)
    live = [(row["source"], row["status"], row.get("staged_key")) for row in report["files"]]
    mine = [(r.source, "ok", r.staged_key) for r in sorted(results, key=lambda r: r.file_index)]
    return {"pointer": pointer, "report": report} if live == mine else None


def _keep_live_snapshot(root: DataRoot, run_id: str, results: list[FileResult], live: dict[str, Any]) -> dict[str, Any]:
    """Nothing changed: the live snapshot stays; this run's report repeats its counts."""
    rows = live["report"]["files"]
    kept = [
        dataclasses.replace(r, **{k: row[k] for k in ("canonical", "duplicates", "quarantined", "quarantine_reasons")})
        for r, row in zip(sorted(results, key=lambda r: r.file_index), rows, strict=True)
    ]
    report = {**reconciliation(kept), "unchanged_since": live["pointer"]["run_id"]}
    root.write_json_atomic(root.ingest_report(run_id), {"run_id": run_id, **report})
    root.remove_tree(root.staging_dir(run_id))
    remove_unused_staged(root, {r.staged_key for r in results if r.staged_key})
    return {**report, "pointer": live["pointer"], "pruned_snapshots": []}


#: Canonical snapshots kept after an ingest (the live one and older ones to go back to).
KEEP_SNAPSHOTS = 3


def prune_snapshots(root: DataRoot, keep: int, live_run_id: str) -> list[str]:
    """Remove all but the newest ``keep`` canonical snapshots (never the live one)."""
    runs_dir = posixpath.dirname(root.canonical_run_dir(live_run_id))
    runs = sorted(posixpath.basename(p) for p in root.fs.ls(runs_dir, detail=False))
    doomed = [r for r in runs[:-keep] if r != live_run_id] if keep > 0 else []
    for run in doomed:
        root.remove_tree(root.canonical_run_dir(run))
    return doomed


def finish_ingest_run(
    root: DataRoot,
    run_id: str,
    results: list[FileResult],
    created_at: dt.datetime,
    keep_snapshots: int = KEEP_SNAPSHOTS,
    outcomes: list[BucketOutcome] | None = None,
    bucket_rows: int = INGEST_BUCKET_ROWS,
) -> dict[str, Any]:
    """After every file is staged: deduplicate (here, unless the buckets' ``outcomes`` are
    given) and write the snapshot, reconcile, swap the CURRENT pointer, remove the run's
    staging, prune old snapshots and staged rows no longer used. A run whose files are all
    unchanged keeps the live snapshot."""
    live = live_report_if_unchanged(root, results)
    if live is not None:
        return _keep_live_snapshot(root, run_id, results, live)
    if outcomes is None:
        outcomes = write_canonical_snapshot(root, run_id, results, created_at, bucket_rows)
    results = apply_bucket_outcomes(root, run_id, results, outcomes)
    snapshot = root.canonical_run_dir(run_id)
    root.fs.makedirs(snapshot, exist_ok=True)
    report = reconciliation(results)
    if report["totals"]["canonical"] == 0:
        root.write_json_atomic(root.ingest_report(run_id), {"run_id": run_id, **report})
        root.remove_tree(root.staging_dir(run_id))
        root.remove_tree(snapshot)
        raise EmptyIngestRun(_empty_run_message(root, run_id, report))
    damaged = _damaged_live_snapshot(root, results)
    if damaged:
        report["rebuilt_damaged_snapshot"] = damaged
    pointer = publish_snapshot(root, run_id, snapshot, report, created_at)
    root.remove_tree(root.staging_dir(run_id))
    pruned = prune_snapshots(root, keep_snapshots, pointer["run_id"])
    if pointer["run_id"] == run_id:  # a newer run's live snapshot keeps the staged rows it uses
        remove_unused_staged(root, {r.staged_key for r in results if r.ok and r.staged_key})
    return {**report, "pointer": pointer, "pruned_snapshots": pruned}


def _damaged_live_snapshot(root: DataRoot, results: list[FileResult]) -> dict[str, Any] | None:
    """When every file was unchanged but the live snapshot was rebuilt anyway: which
    snapshot was damaged, and its damaged parts (for the report and the CLI)."""
    if not results or not all(r.ok and r.reused for r in results) or not root.exists(root.canonical_pointer()):
        return None
    pointer = root.read_json(root.canonical_pointer())
    damaged = damaged_snapshot_parts(root, pointer) if root.exists(root.from_relative(pointer["snapshot"])) else []
    return {"run_id": pointer["run_id"], "parts": damaged} if damaged else None


def _empty_run_message(root: DataRoot, run_id: str, report: dict[str, Any]) -> str:
    t = report["totals"]
    live = root.read_json(root.canonical_pointer()) if root.exists(root.canonical_pointer()) else None
    kept = f"{root.uri(root.canonical_pointer())} still names snapshot {live['run_id']}" if live else "no snapshot is live yet"
    return (
        f"ingest {run_id} produced no canonical rows ({t['files']} file(s), {t['failed_files']} failed, "
        f"{t['records_read']} records read, {t['quarantined']} quarantined), so nothing was published: {kept}. "
        f"Per-file counts: {root.uri(root.ingest_report(run_id))}"
    )


def reconciliation(results: list[FileResult]) -> dict[str, Any]:
    """Per-file and total counts; every successful file must satisfy
    records_read = canonical + duplicates + quarantined."""
    rows = []
    for r in sorted(results, key=lambda r: r.file_index):
        balanced = r.records_read == r.canonical + r.duplicates + r.quarantined
        if r.ok and not balanced:
            raise AssertionError(f"{r.source}: counts do not reconcile: {r}")
        rows.append(
            {
                "source_name": r.source_name,
                "source": r.source,
                "status": "ok" if r.ok else "failed",
                "records_read": r.records_read,
                "canonical": r.canonical,
                "duplicates": r.duplicates,
                "quarantined": r.quarantined,
                "quarantine_reasons": r.quarantine_reasons,
                "quarantine_file": r.quarantine_file,
                "error": r.error,
                "reused": r.reused,
                "staged_key": r.staged_key,
            }
        )
    ok_rows = [row for row in rows if row["status"] == "ok"]
    totals = {key: sum(row[key] for row in ok_rows) for key in ("records_read", "canonical", "duplicates", "quarantined")}
    totals["files"] = len(rows)
    totals["failed_files"] = len(rows) - len(ok_rows)
    totals["reused_files"] = sum(1 for row in ok_rows if row["reused"])
    return {"files": rows, "totals": totals}


def publish_snapshot(root: DataRoot, run_id: str, snapshot: str, report: dict[str, Any], created_at: dt.datetime) -> dict[str, Any]:
    """Write the run's report, then point ``canonical/CURRENT.json`` at the snapshot with a
    compare-and-swap: the newest run (run ids sort by start time) wins, so an older run
    finishing late never replaces a newer live snapshot. Returns the pointer that stands."""
    root.write_json_atomic(root.ingest_report(run_id), {"run_id": run_id, **report})
    pointer = {
        "run_id": run_id,
        "snapshot": root.relative(snapshot),
        "rows": report["totals"]["canonical"],
        "created_at": created_at.isoformat(),
        "report": root.relative(root.ingest_report(run_id)),
        "parts": snapshot_part_sizes(root, snapshot),  # what a later run checks the snapshot against
    }
    _, standing = swap_json(root, root.canonical_pointer(), lambda current: pointer if current is None or current["run_id"] < run_id else None)
    return standing
