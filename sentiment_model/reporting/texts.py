"""The day's and the trailing window's review texts for the report (the scored rows do not
carry them): read from the batch files a record batch at a time, one file open at a time."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sentiment_model.core.errors import CorruptFileError, corrupt_file_error, is_unreadable_data
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.parquet_parts import parquet_footer
from sentiment_model.model.text import review_text
from sentiment_model.reporting import monitoring
from sentiment_model.scoring.batch import list_day_files


def _day_text_batches(root: DataRoot, day: dt.date, rows_per_file: int | None = None, batch_rows: int = 65_536, skipped: list[dict[str, str]] | None = None) -> Iterator[tuple[int, pa.Table]]:
    """(file index, ``review_id``/``product_id``/model input text) record batches of the
    day's batch files, one file open at a time; only the first ``rows_per_file`` rows of
    each file when given (files are sorted by review id, so that is a sample). A file that
    cannot be read fails with its name, or, given a ``skipped`` list (a past night), is
    noted there and left out."""
    for index, path in enumerate(list_day_files(root, day)):
        try:
            yield from _file_text_batches(root, index, path, rows_per_file, batch_rows)
        except CorruptFileError as exc:
            if skipped is None:
                raise
            skipped.append({"file": root.uri(path), "reason": str(exc)})


def _file_text_batches(root: DataRoot, index: int, path: str, rows_per_file: int | None, batch_rows: int) -> Iterator[tuple[int, pa.Table]]:
    left = rows_per_file
    parquet_footer(root, path)
    try:
        with root.fs.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            names = [n for n in ("review_id", "product_id", "title", "text") if n in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(batch_size=batch_rows if left is None else max(1, min(batch_rows, left)), columns=names):
                if left is not None:
                    batch, left = batch.slice(0, left), left - min(left, batch.num_rows)
                if batch.num_rows:
                    yield index, _texts_of(batch)
                if left == 0:
                    break
    except Exception as exc:
        if not is_unreadable_data(exc):  # a vanished file or a storage hiccup keeps its type
            raise
        raise corrupt_file_error(root.uri(path), exc) from None  # a damaged page behind a good footer


def _texts_of(batch: pa.RecordBatch) -> pa.Table:
    names = batch.schema.names
    title = batch.column("title") if "title" in names else pa.nulls(batch.num_rows, pa.string())
    body = batch.column("text") if "text" in names else pa.nulls(batch.num_rows, pa.string())
    product = batch.column("product_id") if "product_id" in names else pa.nulls(batch.num_rows, pa.string())
    return pa.table({"review_id": batch.column("review_id").cast(pa.string()), "product_id": product.cast(pa.string()), "text": review_text(title.cast(pa.string()), body.cast(pa.string()))})


def read_day_texts(root: DataRoot, day: dt.date, limit: int | None = None, skipped: list[dict[str, str]] | None = None) -> pa.Table:
    """``review_id``, ``product_id`` and the model's input text (title . body) of the day's
    batch files; at most ``limit`` rows (the first of each file), spread over the files
    (``skipped``: see :func:`_day_text_batches`)."""
    files = len(list_day_files(root, day))
    per_file = None if limit is None or not files else max(1, math.ceil(limit / files))
    tables = [table for _, table in _day_text_batches(root, day, per_file, skipped=skipped)]
    if not tables:
        return pa.table({"review_id": pa.array([], pa.string()), "product_id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    out = pa.concat_tables(tables)
    return out if limit is None else out.slice(0, limit)


def scan_day_texts(root: DataRoot, day: dt.date, sample_rows: int, wanted_ids: set[str], stats: monitoring.InputStatsAccumulator | None) -> tuple[pa.Array, dict[str, str]]:
    """One pass over the day's texts, a record batch at a time (bounded memory on a day of
    any size): feeds ``stats``, and returns a sample of about ``sample_rows`` texts (the
    first rows of each file) and the texts of ``wanted_ids``."""
    files = len(list_day_files(root, day))
    per_file = max(1, math.ceil(sample_rows / files)) if files else 0
    taken: dict[int, int] = {}
    sample: list[pa.Array] = []
    wanted: dict[str, str] = {}
    value_set = pa.array(sorted(wanted_ids), pa.string())
    for index, table in _day_text_batches(root, day):
        texts = table.column("text").combine_chunks()
        if stats is not None:
            stats.add(texts)
        room = per_file - taken.get(index, 0)
        if room > 0:
            sample.append(texts.slice(0, room))
            taken[index] = taken.get(index, 0) + min(room, len(texts))
        if len(value_set):
            hits = table.filter(pc.is_in(table.column("review_id"), value_set=value_set))
            wanted.update(zip(hits.column("review_id").to_pylist(), hits.column("text").to_pylist(), strict=True))
    return (pa.concat_arrays(sample) if sample else pa.array([], pa.string())), wanted


def read_window_texts(root: DataRoot, day: dt.date, window_days: int, limit: int, skipped: list[dict[str, str]] | None = None) -> pa.Array:
    """A sample of the trailing window's review texts, spread evenly over its days; a
    damaged batch file is left out (noted in ``skipped`` when given)."""
    days = [day - dt.timedelta(days=i) for i in range(1, window_days + 1)]
    days = [d for d in days if list_day_files(root, d)]
    if not days:
        return pa.array([], pa.string())
    per_day = max(1, math.ceil(limit / len(days)))
    noted = [] if skipped is None else skipped
    return pa.concat_arrays([read_day_texts(root, d, per_day, noted).column("text").combine_chunks() for d in days] or [pa.array([], pa.string())])
