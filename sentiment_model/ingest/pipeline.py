"""Ingest steps: one source file -> staged rows; all staged rows -> a deduplicated canonical snapshot.

Per file, records are read in chunks, normalized and written to the run's staging area,
and rejected records to a quarantine file. A file that fails part-way (truncated gzip,
unreadable) leaves nothing behind: its staging is removed and the error names the file.
Then one pass over the staged files, in manifest order, keeps the first copy of each
review_id and writes the canonical snapshot, partitioned by review month; a pointer
file (``canonical/CURRENT.json``) is swapped atomically to make it live.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import fsspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sentiment_model.core.errors import ConfigError, SourceFormatError, is_compression_error, is_transient
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.pointers import swap_json
from sentiment_model.core.schema import CANONICAL_SCHEMA, QUARANTINE_SCHEMA, STAGED_SCHEMA
from sentiment_model.ingest.normalize import normalize_chunk
from sentiment_model.ingest.readers import Rejected, read_raw_chunks
from sentiment_model.ingest.sources import SourceSpec

PARTITION_COLUMN = "review_month"
UNDATED_PARTITION = "undated"


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
    """What happened to one source file. ``canonical``/``duplicates`` are filled by the merge."""

    source_name: str
    source: str
    file_index: int
    records_read: int = 0
    valid: int = 0
    quarantined: int = 0
    canonical: int = 0
    duplicates: int = 0
    staged_file: str | None = None
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
    chunk_rows: int = 50_000,
    source_storage_options: dict[str, Any] | None = None,
) -> FileResult:
    """Read, normalize and stage one source file. Raises :class:`SourceFileError` naming
    the file when it cannot be read to the end; nothing of it is kept then."""
    result = FileResult(source_name=spec.name, source=source, file_index=file_index)
    stage_dir = root.staging_dir(run_id, f"{file_index:05d}")
    staged_file = root.staging_dir(run_id, f"{file_index:05d}", "canonical.parquet")
    staged_quarantine = root.staging_dir(run_id, f"{file_index:05d}", "quarantine.parquet")
    root.fs.makedirs(stage_dir, exist_ok=True)
    reasons: Counter[str] = Counter()
    try:
        with (
            fsspec.open(source, "rb", compression="infer", **(source_storage_options or {})) as stream,
            root.fs.open(staged_file, "wb") as out,
            root.fs.open(staged_quarantine, "wb") as quarantine_out,
            pq.ParquetWriter(out, STAGED_SCHEMA, compression="zstd") as writer,
            pq.ParquetWriter(quarantine_out, QUARANTINE_SCHEMA, compression="zstd") as quarantine_writer,
        ):
            for chunk in read_raw_chunks(spec, stream, chunk_rows):
                canonical, rejected = normalize_chunk(chunk.table, spec, source, ingested_at)
                rejected = chunk.rejected + rejected
                result.records_read += chunk.table.num_rows + len(chunk.rejected)
                result.valid += canonical.num_rows
                result.quarantined += len(rejected)
                reasons.update(_reason_family(r.reason) for r in rejected)
                if canonical.num_rows:
                    writer.write_table(canonical)
                if rejected:
                    quarantine_writer.write_table(_quarantine_table(rejected, source, ingested_at))
    except Exception as exc:  # noqa: BLE001 - any failure fails this file only, with its name
        root.remove_tree(stage_dir)
        if is_compression_error(exc):
            kind = "truncated or corrupt compressed file"
        elif isinstance(exc, SourceFormatError):
            kind = "unreadable source"
        else:
            kind = type(exc).__name__
        raise SourceFileError(f"{source}: {kind}: {exc}", transient=is_transient(exc)) from exc
    result.staged_file = staged_file
    result.quarantine_reasons = dict(reasons)
    if result.quarantined:
        final = root.quarantine_file(run_id, f"{file_index:05d}-{slugify(posixpath.basename(source))}")
        root.fs.makedirs(posixpath.dirname(final), exist_ok=True)
        root.fs.mv(staged_quarantine, final)
        result.quarantine_file = root.uri(final)
    return result


def read_source_rows(spec: SourceSpec, source: str, *, chunk_rows: int = 50_000, storage_options: dict[str, Any] | None = None) -> tuple[pa.Table, int, Counter[str]]:
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


def _with_partition(batch: pa.RecordBatch) -> pa.RecordBatch:
    month = pc.fill_null(pc.strftime(batch.column("review_time"), format="%Y-%m"), UNDATED_PARTITION)
    return batch.append_column(PARTITION_COLUMN, month)


class _Deduplicator:
    """Keeps the first copy of each review_id. A later copy with the same content is a
    duplicate; one with different content (same id, other rating or body) is a
    conflict and goes to quarantine, since silently keeping either would be a guess."""

    def __init__(self, root: DataRoot, run_id: str, ingested_at: dt.datetime) -> None:
        self.root, self.run_id, self.ingested_at = root, run_id, ingested_at
        self.first_content: dict[str, str] = {}
        self.conflicts: list[Rejected] = []
        self.conflict_sources: list[str] = []

    def batches(self, results: list[FileResult]) -> Iterator[pa.RecordBatch]:
        for result in results:
            with self.root.fs.open(result.staged_file, "rb") as handle:
                for batch in pq.ParquetFile(handle).iter_batches(batch_size=65_536):
                    keep: list[int] = []
                    ids = batch.column("review_id").to_pylist()
                    contents = batch.column("content_hash").to_pylist()
                    for index, (review_id, content) in enumerate(zip(ids, contents, strict=True)):
                        first = self.first_content.get(review_id)
                        if first is None:
                            self.first_content[review_id] = content
                            keep.append(index)
                        elif first == content:
                            result.duplicates += 1
                        else:
                            self._conflict(result, batch, index, review_id)
                    result.canonical += len(keep)
                    if keep:
                        yield _with_partition(batch.take(pa.array(keep, type=pa.int64())).drop_columns(["content_hash"]))

    def _conflict(self, result: FileResult, batch: pa.RecordBatch, index: int, review_id: str) -> None:
        result.quarantined += 1
        result.quarantine_reasons["conflicting duplicate"] = result.quarantine_reasons.get("conflicting duplicate", 0) + 1
        row = batch.slice(index, 1).drop_columns(["content_hash"]).to_pylist()[0]
        reason = f"conflicting duplicate: review_id {review_id} was seen earlier with a different rating or body"
        self.conflicts.append(Rejected(None, orjson.dumps(row, default=str).decode(), reason))
        self.conflict_sources.append(result.source)

    def write_conflicts(self) -> str | None:
        if not self.conflicts:
            return None
        path = self.root.quarantine_file(self.run_id, "conflicting-duplicates")
        table = _quarantine_table(self.conflicts, "", self.ingested_at).set_column(0, "source", pa.array(self.conflict_sources, type=pa.string()))
        self.root.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with self.root.fs.open(path, "wb") as handle:
            pq.write_table(table, handle)
        return self.root.uri(path)


def write_canonical_snapshot(root: DataRoot, run_id: str, results: list[FileResult], ingested_at: dt.datetime | None = None) -> str:
    """Deduplicate the staged rows of the successful files and write the snapshot.
    Returns the snapshot folder (inside the root's filesystem)."""
    snapshot = root.canonical_run_dir(run_id)
    schema = CANONICAL_SCHEMA.append(pa.field(PARTITION_COLUMN, pa.string()))
    ordered = sorted((r for r in results if r.ok), key=lambda r: r.file_index)
    deduplicator = _Deduplicator(root, run_id, ingested_at or dt.datetime.now(dt.UTC).replace(microsecond=0))
    ds.write_dataset(
        deduplicator.batches(ordered),
        base_dir=snapshot,
        schema=schema,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive"),
        filesystem=root.arrow_fs,
        basename_template="part-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_rows_per_group=256_000,
        min_rows_per_group=16_384,
        max_open_files=512,
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
    )
    deduplicator.write_conflicts()
    return snapshot


def prune_snapshots(root: DataRoot, keep: int, live_run_id: str) -> list[str]:
    """Remove all but the newest ``keep`` canonical snapshots (never the live one)."""
    runs_dir = posixpath.dirname(root.canonical_run_dir(live_run_id))
    runs = sorted(posixpath.basename(p) for p in root.fs.ls(runs_dir, detail=False))
    doomed = [r for r in runs[:-keep] if r != live_run_id] if keep > 0 else []
    for run in doomed:
        root.remove_tree(root.canonical_run_dir(run))
    return doomed


def finish_ingest_run(root: DataRoot, run_id: str, results: list[FileResult], created_at: dt.datetime, keep_snapshots: int = 3) -> dict[str, Any]:
    """After every file is staged: deduplicate and write the snapshot, reconcile, swap the
    CURRENT pointer, remove the run's staging, and prune old snapshots. A run with no
    canonical rows never becomes live (:class:`EmptyIngestRun`, report still written)."""
    snapshot = write_canonical_snapshot(root, run_id, results, created_at)
    report = reconciliation(results)
    if report["totals"]["canonical"] == 0:
        root.write_json_atomic(root.ingest_report(run_id), {"run_id": run_id, **report})
        root.remove_tree(root.staging_dir(run_id))
        root.remove_tree(snapshot)
        raise EmptyIngestRun(_empty_run_message(root, run_id, report))
    pointer = publish_snapshot(root, run_id, snapshot, report, created_at)
    root.remove_tree(root.staging_dir(run_id))
    pruned = prune_snapshots(root, keep_snapshots, pointer["run_id"])
    return {**report, "pointer": pointer, "pruned_snapshots": pruned}


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
            }
        )
    ok_rows = [row for row in rows if row["status"] == "ok"]
    totals = {key: sum(row[key] for row in ok_rows) for key in ("records_read", "canonical", "duplicates", "quarantined")}
    totals["files"] = len(rows)
    totals["failed_files"] = len(rows) - len(ok_rows)
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
    }
    _, standing = swap_json(root, root.canonical_pointer(), lambda current: pointer if current is None or current["run_id"] < run_id else None)
    return standing
