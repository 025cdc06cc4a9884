"""Reading what ingest wrote: the live canonical snapshot, and the nightly batches."""

from __future__ import annotations

import datetime as dt
import posixpath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sentiment_model.core.errors import ConfigError, CorruptFileError
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.parquet_parts import readable_parts
from sentiment_model.core.schema import CANONICAL_SCHEMA


def current_snapshot(root: DataRoot) -> dict[str, Any]:
    """The pointer to the live canonical snapshot; a clear error when nothing was ingested."""
    pointer_path = root.canonical_pointer()
    if not root.exists(pointer_path):
        raise ConfigError(f"no canonical data under {root.uri(root.path)}: run `sentiment ingest` first")
    pointer = root.read_json(pointer_path)
    snapshot = root.from_relative(pointer["snapshot"])
    if not root.exists(snapshot):
        raise ConfigError(f"{root.uri(pointer_path)} points at {root.uri(snapshot)}, which does not exist")
    return {**pointer, "path": snapshot}


def snapshot_part_sizes(root: DataRoot, snapshot: str) -> dict[str, int]:
    """Every Parquet part of a snapshot folder (relative path -> bytes), as written."""
    found = root.fs.find(snapshot, detail=True)
    return {posixpath.relpath(path, snapshot): int(info["size"]) for path, info in sorted(found.items()) if path.endswith(".parquet")}


def damaged_snapshot_parts(root: DataRoot, pointer: dict[str, Any]) -> list[dict[str, str]]:
    """``{"file", "reason"}`` for each part of the pointer's snapshot that is missing, has
    another size than when it was written (pointers record ``parts``; older ones do not),
    or whose Parquet footer cannot be read. Empty: the snapshot is whole."""
    snapshot = root.from_relative(pointer["snapshot"])
    actual = snapshot_part_sizes(root, snapshot) if root.exists(snapshot) else {}
    damaged = []
    for relative, size in (pointer.get("parts") or {}).items():
        if actual.get(relative) != size:
            now = "missing" if relative not in actual else f"{actual[relative]} bytes"
            damaged.append({"file": root.uri(root.snapshot_part(snapshot, relative)), "reason": f"{now}, {size} bytes when the snapshot was written"})
    named = {row["file"] for row in damaged}
    _, unreadable = readable_parts(root, [root.snapshot_part(snapshot, r) for r in actual if root.uri(root.snapshot_part(snapshot, r)) not in named])
    return damaged + unreadable


def canonical_dataset(root: DataRoot) -> ds.Dataset:
    """The live canonical snapshot as a pyarrow dataset (hive-partitioned by review_month)."""
    snapshot = current_snapshot(root)["path"]
    return ds.dataset(snapshot, format="parquet", partitioning="hive", filesystem=root.arrow_fs)


def read_canonical(
    root: DataRoot,
    columns: list[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pa.Table:
    """Canonical reviews, optionally limited to review dates in ``[start, end]``, in a
    stable order (review_id) so downstream sampling is reproducible; a damaged part is one
    :class:`CorruptFileError` line naming it."""
    expression = None
    if start is not None or end is not None:
        time = ds.field("review_time")
        if start is not None:
            expression = time >= pa.scalar(dt.datetime.combine(start, dt.time(), dt.UTC), pa.timestamp("s", tz="UTC"))
        if end is not None:
            upper = time < pa.scalar(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC), pa.timestamp("s", tz="UTC"))
            expression = upper if expression is None else expression & upper
    names = columns or CANONICAL_SCHEMA.names
    try:
        table = canonical_dataset(root).to_table(columns=names, filter=expression)
    except (pa.ArrowException, OSError) as exc:
        _raise_for_damaged_part(root, exc)
        raise
    # Parquet has no seconds unit: cast back to the declared schema.
    table = table.cast(pa.schema([CANONICAL_SCHEMA.field(n) for n in names]))
    if "review_id" in table.column_names:
        table = table.sort_by("review_id")
    return table


def _raise_for_damaged_part(root: DataRoot, exc: BaseException) -> None:
    """A read of the live snapshot failed: name the damaged part (and how to repair it)
    when there is one; otherwise the caller re-raises the storage error."""
    damaged = damaged_snapshot_parts(root, current_snapshot(root))
    if damaged:
        first = damaged[0]
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise CorruptFileError(f"canonical part {first['file']}{more}: {first['reason']}; run `sentiment ingest` to rebuild the snapshot") from None


def write_incoming_batches(
    root: DataRoot,
    reviews: pa.Table,
    rows_per_file: int = 250_000,
) -> dict[str, int]:
    """Write canonical reviews as nightly batches, one folder per review date:
    ``<root>/incoming/date=YYYY-MM-DD/part-00000.parquet``. A day already staged is
    replaced whole. Undated reviews cannot be placed on a day and are skipped (counted
    under ``"undated"``). Returns rows written per date."""
    dated = reviews.filter(pc.is_valid(reviews.column("review_time")))
    days = pc.cast(dated.column("review_time"), pa.date32())
    dated = dated.append_column("_day", days).sort_by([("_day", "ascending"), ("review_id", "ascending")])
    counts: dict[str, int] = {}
    for day in pc.unique(dated.column("_day")).to_pylist():
        day_rows = dated.filter(pc.equal(dated.column("_day"), pa.scalar(day, pa.date32()))).drop_columns(["_day"])
        folder = root.incoming_dir(day)
        root.remove_tree(folder)
        root.fs.makedirs(folder, exist_ok=True)
        for part, offset in enumerate(range(0, day_rows.num_rows, rows_per_file)):
            path = root.incoming_part(day, part)
            with root.fs.open(path, "wb") as handle:
                pq.write_table(day_rows.slice(offset, rows_per_file).cast(CANONICAL_SCHEMA), handle, compression="zstd")
        counts[day.isoformat()] = day_rows.num_rows
    counts["undated"] = reviews.num_rows - dated.num_rows
    return counts
