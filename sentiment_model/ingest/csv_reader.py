"""The CSV / TSV reader: pyarrow's parser in blocks, records numbered as in the file,
short rows rejected alone, a field longer than a block re-read with a bigger one."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sentiment_model.core.errors import SourceFormatError
from sentiment_model.ingest.chunks import RECORD_NUMBER, UNDECODABLE_MARK, RawChunk, Rejected, unmark, utf8_stream
from sentiment_model.ingest.sources import SourceSpec


def _peek_header(stream: IO[bytes], spec: SourceSpec) -> list[str]:
    """Read the header line without consuming it (the stream must be seekable)."""
    start = stream.tell()
    first = utf8_stream(stream, spec.encoding).readline()
    stream.seek(start)
    text = unmark(first.decode("utf-8")).rstrip("\r\n")
    if not text:
        raise SourceFormatError("the file is empty: no header line")
    if not spec.quoting:
        return text.split(spec.delimiter)
    return next(csv.reader([text], delimiter=spec.delimiter))


#: pyarrow needs a whole record inside one block: a file with a longer record is read
#: again with a bigger block (4 MB, 16 MB, ... up to 256 MB), the records already
#: yielded skipped, so one huge text field costs a re-read, not the file.
_CSV_BLOCK_BYTES = 4 << 20
_CSV_MAX_BLOCK_BYTES = 256 << 20


@dataclass
class _CsvProgress:
    """What a CSV read has handed out, so a re-read with a bigger block skips it."""

    yielded_through: int = 0  # every valid record up to this number has been yielded
    reported_invalid: set[int] = field(default_factory=set)


def read_csv(spec: SourceSpec, stream: IO[bytes], chunk_rows: int) -> Iterator[RawChunk]:
    """CSV/TSV with pyarrow's streaming reader: declared delimiter, quoting, header and
    encoding; rows with the wrong number of fields and undecodable rows are rejected."""
    names = spec.column_names if not spec.header else _peek_header(stream, spec)
    wanted = spec.needed_fields()
    missing = [c for c in (wanted or []) if c not in names]
    if missing:
        raise SourceFormatError(f"mapped column(s) {missing} not in the file's columns {names}")
    wanted = wanted or [n for n in names if n not in spec.dedup_exclude]
    start = stream.tell()
    progress = _CsvProgress()
    block_size = _CSV_BLOCK_BYTES
    while True:
        stream.seek(start)
        try:
            yield from _read_csv_pass(spec, stream, chunk_rows, names, wanted, block_size, progress)
            return
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise
            if block_size >= _CSV_MAX_BLOCK_BYTES:
                raise SourceFormatError(f"a record is longer than {_CSV_MAX_BLOCK_BYTES >> 20} MB (or a quote is never closed)") from exc
            block_size *= 4


def _read_csv_pass(spec: SourceSpec, stream: IO[bytes], chunk_rows: int, names: list[str], wanted: list[str], block_size: int, progress: _CsvProgress) -> Iterator[RawChunk]:
    """One read of the file with one block size; skips what ``progress`` says was yielded."""
    invalid_rows: list[Rejected] = []
    header_rows = 1 if spec.header else 0

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        # Single-threaded reads know the row's number (header included); valid rows are
        # numbered around these below, so every record keeps its place in the file.
        number = None if row.number is None or row.number < 0 else row.number - header_rows
        if number is None or number not in progress.reported_invalid:
            text = unmark(row.text or "")
            invalid_rows.append(Rejected(number, text, f"{spec.delimiter!r}-separated row has {row.actual_columns} fields, expected {row.expected_columns}"))
        return "skip"

    reader = pacsv.open_csv(
        utf8_stream(stream, spec.encoding),
        read_options=pacsv.ReadOptions(
            encoding="utf8",
            column_names=None if spec.header else names,
            block_size=block_size,
            use_threads=False,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=spec.delimiter,
            quote_char='"' if spec.quoting else False,
            double_quote=spec.quoting,
            newlines_in_values=spec.quoting,
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid_row,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            include_columns=wanted,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    next_candidate = 1
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def record_numbers(count: int) -> np.ndarray:
        """The next ``count`` record numbers that are not rejected rows: the handler has
        seen every rejected row up to the end of the batch being numbered (and maybe
        some beyond it, which are larger)."""
        nonlocal next_candidate
        skipped = np.array(sorted(r.record_number for r in invalid_rows if r.record_number is not None and r.record_number >= next_candidate), dtype=np.int64)
        skipped = np.union1d(skipped, np.array([n for n in progress.reported_invalid if n >= next_candidate], dtype=np.int64))
        candidates = np.arange(next_candidate, next_candidate + count + len(skipped), dtype=np.int64)
        numbers = np.setdiff1d(candidates, skipped, assume_unique=True)[:count]
        if count:
            next_candidate = int(numbers[-1]) + 1
        return numbers

    def flush() -> RawChunk:
        nonlocal pending, pending_rows
        table = pa.Table.from_batches(pending, schema=reader.schema)
        numbers = record_numbers(table.num_rows)
        columns = {name: table.column(name) for name in wanted}
        columns[RECORD_NUMBER] = pa.chunked_array([pa.array(numbers, type=pa.int64())])
        out = pa.table(columns)
        out = out.filter(pc.greater(out.column(RECORD_NUMBER), progress.yielded_through))
        rejected = list(invalid_rows)
        invalid_rows.clear()
        progress.reported_invalid.update(r.record_number for r in rejected if r.record_number is not None)
        marked = None
        for name in wanted:
            has_mark = pc.match_substring(out.column(name), UNDECODABLE_MARK)
            marked = has_mark if marked is None else pc.or_(marked, has_mark)
        if marked is not None and pc.any(marked).as_py():
            for row in out.filter(marked).to_pylist():
                number = row.pop(RECORD_NUMBER)
                rejected.append(Rejected(number, unmark(orjson.dumps(row).decode()), f"undecodable bytes: not valid {spec.encoding}"))
            out = out.filter(pc.invert(marked))
        if len(numbers):
            progress.yielded_through = max(progress.yielded_through, int(numbers[-1]))
        pending, pending_rows = [], 0
        return RawChunk(out, rejected)

    for batch in reader:
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= chunk_rows:
            yield flush()
    if pending or invalid_rows:
        yield flush()
