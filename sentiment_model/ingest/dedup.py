"""Bucketed deduplication: memory bounded by one bucket, not by the corpus.

Staged rows are stored per source file as Parquet parts sorted by a hash slot (the first
12 bits of ``review_id``; 4,096 slots), cut into row groups at slot boundaries. A run
splits the slots into ``buckets`` contiguous ranges sized from the number of staged
rows; each bucket reads only the row groups of its slots from every file, decides every
row in DuckDB (memory limit, spill directory) and writes its canonical rows into the
snapshot. Every copy of one ``review_id`` lands in the same bucket, so the rule is the
same as one pass over the whole corpus: the first copy in manifest order (file index,
then position in the file) wins; a later copy with the same content is a duplicate; one
with another rating or body is a conflicting duplicate, quarantined.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import posixpath
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import fsspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import CANONICAL_SCHEMA, QUARANTINE_SCHEMA, STAGED_PART_SCHEMA
from sentiment_model.core.settings import INGEST_BUCKET_ROWS

PARTITION_COLUMN = "review_month"
UNDATED_PARTITION = "undated"
HASH_SLOTS = 4096
#: A staged row group holds whole slots and at least this many rows (the last may hold fewer).
MIN_GROUP_ROWS = 1024
#: Rows buffered per source file before a slot-sorted part is written (bounds staging memory).
SEGMENT_BYTES = 64 << 20
DEFAULT_BUCKET_MEMORY = "1GB"

SNAPSHOT_SCHEMA = CANONICAL_SCHEMA.append(pa.field(PARTITION_COLUMN, pa.string()))
_BUCKET_INPUT_SCHEMA = (
    STAGED_PART_SCHEMA.remove(STAGED_PART_SCHEMA.get_field_index("hash_slot")).append(pa.field("file_index", pa.int32(), nullable=False)).append(pa.field(PARTITION_COLUMN, pa.string()))
)
_HEX_VALUES = np.zeros(256, dtype=np.int16)
for _value, _char in enumerate(b"0123456789abcdef"):
    _HEX_VALUES[_char] = _HEX_VALUES[ord(chr(_char).upper())] = _value


def hash_slots(review_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Slot 0..4095 of each review_id (an md5 hex string): its first three hex digits."""
    if len(review_ids) == 0:
        return np.zeros(0, dtype=np.int16)
    prefix = pc.utf8_rpad(pc.utf8_slice_codeunits(review_ids, 0, 3), 3, "0").cast(pa.binary())
    prefix = prefix.combine_chunks() if isinstance(prefix, pa.ChunkedArray) else prefix
    offsets = np.frombuffer(prefix.buffers()[1], dtype=np.int32)[prefix.offset : prefix.offset + len(prefix) + 1]
    data = np.frombuffer(prefix.buffers()[2], dtype=np.uint8)
    digits = _HEX_VALUES[data[offsets[:-1, None] + np.arange(3)]]
    return ((digits[:, 0] << 8) | (digits[:, 1] << 4) | digits[:, 2]).astype(np.int16)


def slot_range(bucket: int, buckets: int) -> tuple[int, int]:
    """The slots ``[low, high)`` of one bucket."""
    return bucket * HASH_SLOTS // buckets, (bucket + 1) * HASH_SLOTS // buckets


def bucket_count(staged_rows: int, bucket_rows: int = INGEST_BUCKET_ROWS) -> int:
    """Enough buckets that each holds about ``bucket_rows`` rows (1 to 4,096)."""
    return max(1, min(HASH_SLOTS, math.ceil(staged_rows / max(1, bucket_rows))))


def _row_groups(sorted_slots: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges cut at slot boundaries, each at least MIN_GROUP_ROWS rows."""
    cuts = [0]
    for boundary in (np.flatnonzero(np.diff(sorted_slots)) + 1).tolist():
        if boundary - cuts[-1] >= MIN_GROUP_ROWS:
            cuts.append(boundary)
    if cuts[-1] != len(sorted_slots):
        cuts.append(len(sorted_slots))
    return list(zip(cuts[:-1], cuts[1:], strict=True))


class BucketedStageWriter:
    """Stages one source file's rows (in file order) as slot-sorted Parquet parts."""

    def __init__(self, root: DataRoot, folder: str, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.root, self.folder, self.segment_bytes = root, folder, segment_bytes
        self.rows = 0
        self.parts: list[str] = []
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0

    def write(self, staged: pa.Table) -> None:
        if staged.num_rows == 0:
            return
        positions = pa.array(np.arange(self.rows, self.rows + staged.num_rows, dtype=np.int64))
        table = staged.append_column("file_row", positions).append_column("hash_slot", pa.array(hash_slots(staged.column("review_id")), pa.int16()))
        self.rows += staged.num_rows
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        if self._pending_bytes >= self.segment_bytes:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending).cast(STAGED_PART_SCHEMA).combine_chunks()
        self._pending, self._pending_bytes = [], 0
        slots = table.column("hash_slot").to_numpy()
        order = np.argsort(slots, kind="stable")
        table, slots = table.take(pa.array(order)), slots[order]
        path = self.root.staged_part(self.folder, len(self.parts))
        # Statistics only where they are used (row-group pruning by slot); no dictionaries
        # for the many small row groups of mostly unique text.
        options = {"compression": "zstd", "write_statistics": ["hash_slot"], "use_dictionary": ["product_id", "source", "ingested_at"]}
        with self.root.fs.open(path, "wb") as out, pq.ParquetWriter(out, STAGED_PART_SCHEMA, **options) as writer:
            for start, stop in _row_groups(slots):
                writer.write_table(table.slice(start, stop - start), row_group_size=stop - start)
        self.parts.append(path)


def read_staged_rows(fs: fsspec.AbstractFileSystem, parts: list[str]) -> pa.Table:
    """A file's staged rows back in file order (for tests and inspection)."""
    tables = []
    for part in parts:
        with fs.open(part, "rb") as handle:
            tables.append(pq.read_table(handle))
    if not tables:
        return STAGED_PART_SCHEMA.empty_table()
    return pa.concat_tables(tables).sort_by("file_row")


def _overlapping_groups(metadata: pq.FileMetaData, low: int, high: int) -> list[int]:
    column = STAGED_PART_SCHEMA.get_field_index("hash_slot")
    groups = []
    for index in range(metadata.num_row_groups):
        stats = metadata.row_group(index).column(column).statistics
        if stats is None or not stats.has_min_max or (stats.max >= low and stats.min < high):
            groups.append(index)
    return groups


def bucket_batches(fs: fsspec.AbstractFileSystem, inputs: list[tuple[int, list[str]]], low: int, high: int) -> Iterator[pa.RecordBatch]:
    """The staged rows whose slot is in ``[low, high)``, file by file in manifest order,
    with their file index and review month."""
    for file_index, parts in inputs:
        for part in parts:
            with fs.open(part, "rb") as handle:
                parquet = pq.ParquetFile(handle)
                groups = _overlapping_groups(parquet.metadata, low, high)
                if not groups:
                    continue
                table = parquet.read_row_groups(groups)
            slots = table.column("hash_slot")
            table = table.filter(pc.and_(pc.greater_equal(slots, low), pc.less(slots, high))).drop_columns(["hash_slot"])
            if table.num_rows == 0:
                continue
            month = pc.fill_null(pc.strftime(table.column("review_time"), format="%Y-%m"), UNDATED_PARTITION)
            table = table.append_column("file_index", pa.array(np.full(table.num_rows, file_index, dtype=np.int32))).append_column(PARTITION_COLUMN, month)
            yield from table.cast(_BUCKET_INPUT_SCHEMA).to_batches()


@dataclass
class BucketOutcome:
    """What one bucket decided: per file index ``[canonical, duplicates, conflicts]``."""

    bucket: int
    rows: int = 0
    counts: dict[int, list[int]] = field(default_factory=dict)
    conflicts_file: str | None = None


#: The rows are materialized once; the decision is taken on the narrow key columns only
#: (the window sorts ids and hashes, not review text), and the few rows that are not
#: canonical (later copies) are looked up by their position.
_DECIDE = """
CREATE TABLE staged AS SELECT * FROM bucket_rows;
CREATE TABLE decided AS
SELECT file_index, file_row, status FROM (
    SELECT file_index, file_row,
           CASE WHEN copy_number = 1 THEN 0 WHEN content_hash = first_content THEN 1 ELSE 2 END AS status
    FROM (
        SELECT file_index, file_row, content_hash, row_number() OVER w AS copy_number, first_value(content_hash) OVER w AS first_content
        FROM staged
        WINDOW w AS (PARTITION BY review_id ORDER BY file_index, file_row)
    )
) WHERE status > 0;
"""
_CANONICAL_COLUMNS = ", ".join(CANONICAL_SCHEMA.names)


def _as_snapshot_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    # DuckDB hands timestamps back in microseconds: cast to the declared schema.
    for batch in reader:
        yield from pa.Table.from_batches([batch]).cast(SNAPSHOT_SCHEMA).to_batches()


def write_snapshot_rows(root: DataRoot, snapshot: str, batches: Iterator[pa.RecordBatch], basename: str) -> None:
    """Write canonical rows (sorted by month, so one partition is open at a time and
    buffering stays small) into the snapshot, hive-partitioned by review month."""
    ds.write_dataset(
        batches,
        base_dir=snapshot,
        schema=SNAPSHOT_SCHEMA,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive"),
        filesystem=root.arrow_fs,
        basename_template=basename + "-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_rows_per_group=256_000,
        min_rows_per_group=16_384,
        max_open_files=4,
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
    )


def _conflict_table(rows: pa.Table, ingested_at: dt.datetime) -> pa.Table:
    """Quarantine rows for conflicting copies (few: a Python loop is fine here)."""
    raws, reasons = [], []
    for row in rows.to_pylist():
        reasons.append(f"conflicting duplicate: review_id {row['review_id']} was seen earlier with a different rating or body")
        raws.append(orjson.dumps(row, default=str).decode())
    return pa.table(
        {
            "source": rows.column("source"),
            "record_number": pa.nulls(rows.num_rows, pa.int64()),
            "raw": raws,
            "quarantine_reason": reasons,
            "ingested_at": pa.array([ingested_at] * rows.num_rows, pa.timestamp("s", tz="UTC")),
        },
        schema=QUARANTINE_SCHEMA,
    )


def dedup_bucket(
    root: DataRoot,
    run_id: str,
    bucket: int,
    buckets: int,
    inputs: list[tuple[int, list[str]]],
    ingested_at: dt.datetime,
    memory_limit: str = DEFAULT_BUCKET_MEMORY,
    threads: int = 1,
) -> BucketOutcome:
    """Deduplicate one bucket: canonical rows into the run's snapshot (files
    ``part-b<bucket>-*``), conflicting copies into a scratch file, counts per file.
    ``inputs`` is ``(file_index, staged parts)`` of every staged file, in manifest order."""
    low, high = slot_range(bucket, buckets)
    outcome = BucketOutcome(bucket=bucket)
    reader = pa.RecordBatchReader.from_batches(_BUCKET_INPUT_SCHEMA, bucket_batches(root.fs, inputs, low, high))
    with tempfile.TemporaryDirectory(prefix=f"ingest-bucket-{bucket}-") as scratch:
        config = {"memory_limit": memory_limit, "temp_directory": os.path.join(scratch, "spill"), "threads": str(threads), "preserve_insertion_order": "false"}
        with duckdb.connect(":memory:", config=config) as con:  # spills to temp_directory past memory_limit
            con.register("bucket_rows", reader)
            con.execute(_DECIDE)
            for file_index, count in con.execute("SELECT file_index, count(*) FROM staged GROUP BY ALL").fetchall():
                outcome.counts.setdefault(int(file_index), [0, 0, 0])[0] += int(count)
                outcome.rows += int(count)
            for file_index, status, count in con.execute("SELECT file_index, status, count(*) FROM decided GROUP BY ALL").fetchall():
                outcome.counts[int(file_index)][0] -= int(count)
                outcome.counts[int(file_index)][int(status)] += int(count)
            canonical = con.sql(f"SELECT {_CANONICAL_COLUMNS}, {PARTITION_COLUMN} FROM staged ANTI JOIN decided USING (file_index, file_row) ORDER BY {PARTITION_COLUMN}, review_id")
            write_snapshot_rows(root, root.canonical_run_dir(run_id), _as_snapshot_batches(canonical.to_arrow_reader(65_536)), f"part-b{bucket:05d}")
            conflicts = con.sql(
                f"SELECT {_CANONICAL_COLUMNS} FROM staged SEMI JOIN (SELECT * FROM decided WHERE status = 2) USING (file_index, file_row) ORDER BY file_index, file_row"
            ).to_arrow_table()
    if conflicts.num_rows:
        path = root.bucket_scratch(run_id, bucket)
        root.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with root.fs.open(path, "wb") as handle:
            pq.write_table(_conflict_table(conflicts.cast(CANONICAL_SCHEMA), ingested_at), handle)
        outcome.conflicts_file = path
    return outcome


def merge_conflicts(root: DataRoot, run_id: str, outcomes: list[BucketOutcome]) -> str | None:
    """One quarantine file of the run's conflicting duplicates (bucket by bucket, each in
    manifest order), streamed piece by piece."""
    pieces = [o.conflicts_file for o in sorted(outcomes, key=lambda o: o.bucket) if o.conflicts_file]
    if not pieces:
        return None
    path = root.quarantine_file(run_id, "conflicting-duplicates")
    root.fs.makedirs(posixpath.dirname(path), exist_ok=True)
    with root.fs.open(path, "wb") as out, pq.ParquetWriter(out, QUARANTINE_SCHEMA) as writer:
        for piece in pieces:
            with root.fs.open(piece, "rb") as handle:
                writer.write_table(pq.read_table(handle).cast(QUARANTINE_SCHEMA))
    return root.uri(path)
