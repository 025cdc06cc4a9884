"""Streaming readers: a raw dump in, chunks of raw string columns out.

Every reader yields :class:`RawChunk` objects: a table whose columns are the raw fields
as strings (plus ``record_number``), and the records it could not parse at all, each with
its raw text and a reason. Memory stays bounded by the chunk size, whatever the file size.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from sentiment_model.ingest.sources import SourceSpec

RECORD_NUMBER = "record_number"
_JSON_BLOCK_BYTES = 8 << 20


@dataclass
class Rejected:
    """A record that failed before or during normalization."""

    record_number: int | None
    raw: str
    reason: str


@dataclass
class RawChunk:
    table: pa.Table  # raw fields as strings + record_number (int64, 1-based)
    rejected: list[Rejected] = field(default_factory=list)


class SourceFormatError(Exception):
    """The file as a whole cannot be read (truncated gzip, wrong format, missing column)."""


def read_raw_chunks(spec: SourceSpec, stream: IO[bytes], chunk_rows: int) -> Iterator[RawChunk]:
    """Dispatch to the reader for ``spec.reader``."""
    if spec.reader == "json_lines":
        return read_json_lines(spec, stream, chunk_rows)
    if spec.reader == "csv":
        return read_csv(spec, stream, chunk_rows)
    if spec.reader == "snap_text":
        return read_snap_text(spec, stream, chunk_rows)
    raise ValueError(f"unknown reader {spec.reader!r}")


# --- JSON lines -------------------------------------------------------------------------


def _iter_line_blocks(stream: IO[bytes], block_bytes: int) -> Iterator[list[bytes]]:
    """Yield lists of non-blank lines, about ``block_bytes`` at a time; a last line
    without a newline is still a line."""
    leftover = b""
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        data = leftover + data
        cut = data.rfind(b"\n")
        if cut < 0:
            leftover = data
            continue
        leftover = data[cut + 1 :]
        yield [line for line in data[:cut].split(b"\n") if line.strip()]
    if leftover.strip():
        yield [leftover]


def _json_value_to_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return orjson.dumps(value).decode()


def _strings_table(rows: dict[str, list[str | None]], record_numbers: list[int]) -> pa.Table:
    columns = {name: pa.array(values, type=pa.string()) for name, values in rows.items()}
    columns[RECORD_NUMBER] = pa.array(record_numbers, type=pa.int64())
    return pa.table(columns)


def _parse_json_lines_slow(
    lines: list[bytes], fields: list[str], first_record: int
) -> RawChunk:
    """Line-by-line parse that isolates bad lines. Used only when the fast parse of a
    block fails, so one broken line costs one block's speed, not the whole file."""
    rows: dict[str, list[str | None]] = {name: [] for name in fields}
    numbers: list[int] = []
    rejected: list[Rejected] = []
    for offset, line in enumerate(lines):
        number = first_record + offset
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            rejected.append(Rejected(number, line.decode("utf-8", "replace"), f"undecodable bytes: not valid UTF-8 ({exc.reason} at byte {exc.start})"))
            continue
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            rejected.append(Rejected(number, text, f"malformed JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            rejected.append(Rejected(number, text, "malformed JSON: line is not an object"))
            continue
        for name in fields:
            rows[name].append(_json_value_to_str(obj.get(name)))
        numbers.append(number)
    return RawChunk(_strings_table(rows, numbers), rejected)


def _json_fast_schema(spec: SourceSpec, fields: list[str]) -> pa.Schema:
    numeric = {spec.columns.rating: pa.float64()}
    if spec.columns.review_time and spec.time_format in ("unix_s", "unix_ms"):
        numeric[spec.columns.review_time] = pa.int64()
    return pa.schema([(name, numeric.get(name, pa.string())) for name in fields])


def read_json_lines(spec: SourceSpec, stream: IO[bytes], chunk_rows: int) -> Iterator[RawChunk]:
    """JSON lines via pyarrow's multi-threaded parser, falling back to a per-line parse
    for any block that holds a malformed line or an unexpected type."""
    fields = spec.needed_fields()
    if fields is None:
        raise ValueError(f"source {spec.name!r}: whole-row dedup keys are not supported for JSON lines")
    schema = _json_fast_schema(spec, fields)
    parse_options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    block_bytes = max(1 << 20, min(_JSON_BLOCK_BYTES, chunk_rows * 1024))
    next_record = 1
    for block in _iter_line_blocks(stream, block_bytes):
        for start in range(0, len(block), chunk_rows):
            lines = block[start : start + chunk_rows]
            try:
                table = pajson.read_json(
                    io.BytesIO(b"\n".join(lines)),
                    read_options=pajson.ReadOptions(block_size=max(1 << 20, len(lines[0]) * 4)),
                    parse_options=parse_options,
                )
                if table.num_rows != len(lines):
                    raise pa.ArrowInvalid("row count differs from line count")
                # The JSON parser passes invalid UTF-8 through; full validation catches it.
                table.validate(full=True)
                columns = {name: table.column(name).cast(pa.string()) for name in fields}
                columns[RECORD_NUMBER] = pa.array(range(next_record, next_record + len(lines)), type=pa.int64())
                chunk = RawChunk(pa.table(columns))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                chunk = _parse_json_lines_slow(lines, fields, next_record)
            next_record += len(lines)
            yield chunk


# --- CSV / TSV --------------------------------------------------------------------------


def _peek_header(stream: IO[bytes], spec: SourceSpec) -> list[str]:
    """Read the header line without consuming it (the stream must be seekable)."""
    start = stream.tell()
    first = stream.readline()
    stream.seek(start)
    text = first.decode(spec.encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
    if not text:
        raise SourceFormatError("the file is empty: no header line")
    if not spec.quoting:
        return text.split(spec.delimiter)
    return next(csv.reader([text], delimiter=spec.delimiter))


#: Marks undecodable bytes: U+FDD0 is a Unicode noncharacter, never found in real text.
UNDECODABLE_MARK = "\ufdd0"


def _mark_undecodable(error: UnicodeDecodeError) -> tuple[str, int]:
    return UNDECODABLE_MARK, error.end


codecs.register_error("sentiment_mark_undecodable", _mark_undecodable)


class DecodedUtf8Stream(io.RawIOBase):
    """Bytes in any encoding -> valid UTF-8 bytes, streaming. Undecodable bytes become
    U+FDD0, so the rows that held them can be quarantined instead of failing the file."""

    def __init__(self, raw: IO[bytes], encoding: str, chunk_bytes: int = 1 << 20) -> None:
        super().__init__()
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="sentiment_mark_undecodable")
        self._chunk_bytes = chunk_bytes
        self._buffer = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and not self._eof:
            data = self._raw.read(self._chunk_bytes)
            self._eof = not data
            self._buffer = self._decoder.decode(data, final=self._eof).encode("utf-8")
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def read_csv(spec: SourceSpec, stream: IO[bytes], chunk_rows: int) -> Iterator[RawChunk]:
    """CSV/TSV with pyarrow's streaming reader: declared delimiter, quoting, header and
    encoding; rows with the wrong number of fields and undecodable rows are rejected."""
    names = spec.column_names if not spec.header else _peek_header(stream, spec)
    wanted = spec.needed_fields()
    missing = [c for c in (wanted or []) if c not in names]
    if missing:
        raise SourceFormatError(f"mapped column(s) {missing} not in the file's columns {names}")
    wanted = wanted or [n for n in names if n not in spec.dedup_exclude]
    invalid_rows: list[Rejected] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        invalid_rows.append(Rejected(None, row.text or "", f"{spec.delimiter!r}-separated row has {row.actual_columns} fields, expected {row.expected_columns}"))
        return "skip"

    reader = pacsv.open_csv(
        DecodedUtf8Stream(stream, spec.encoding),
        read_options=pacsv.ReadOptions(
            encoding="utf8",
            column_names=None if spec.header else names,
            block_size=4 << 20,
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
    next_record = 1
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def flush() -> RawChunk:
        nonlocal next_record, pending, pending_rows
        table = pa.Table.from_batches(pending, schema=reader.schema)
        numbers = pa.chunked_array([pa.array(range(next_record, next_record + table.num_rows), type=pa.int64())])
        next_record += table.num_rows
        rejected = list(invalid_rows)
        invalid_rows.clear()
        columns = {name: table.column(name) for name in wanted}
        columns[RECORD_NUMBER] = numbers
        out = pa.table(columns)
        marked = None
        for name in wanted:
            has_mark = pc.match_substring(columns[name], UNDECODABLE_MARK)
            marked = has_mark if marked is None else pc.or_(marked, has_mark)
        if marked is not None and pc.any(marked).as_py():
            for row in out.filter(marked).to_pylist():
                number = row.pop(RECORD_NUMBER)
                raw = orjson.dumps(row).decode().replace(UNDECODABLE_MARK, "\ufffd")
                rejected.append(Rejected(number, raw, f"undecodable bytes: not valid {spec.encoding}"))
            out = out.filter(pc.invert(marked))
        pending, pending_rows = [], 0
        return RawChunk(out, rejected)

    for batch in reader:
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= chunk_rows:
            yield flush()
    if pending or invalid_rows:
        yield flush()


# --- SNAP 2013 text blocks ----------------------------------------------------------------


def read_snap_text(spec: SourceSpec, stream: IO[bytes], chunk_rows: int) -> Iterator[RawChunk]:
    """SNAP 2013 ``key: value`` blocks separated by blank lines."""
    fields = spec.needed_fields() or []
    text = io.TextIOWrapper(stream, encoding=spec.encoding, errors="strict", newline="\n")
    rows: dict[str, list[str | None]] = {name: [] for name in fields}
    numbers: list[int] = []
    rejected: list[Rejected] = []
    block: dict[str, str] = {}
    block_lines: list[str] = []
    problem: str | None = None
    record = 0

    def end_block() -> None:
        nonlocal block, block_lines, problem, record
        if not block_lines:
            return
        record += 1
        missing = [name for name in fields if name not in block]
        if problem is None and missing:
            problem = f"block lacks key(s) {missing}"
        if problem is not None:
            rejected.append(Rejected(record, "\n".join(block_lines), f"malformed text block: {problem}"))
        else:
            for name in fields:
                rows[name].append(block.get(name))
            numbers.append(record)
        block, block_lines, problem = {}, [], None

    def take_chunk() -> RawChunk:
        nonlocal rows, numbers, rejected
        chunk = RawChunk(_strings_table(rows, numbers), rejected)
        rows, numbers, rejected = {name: [] for name in fields}, [], []
        return chunk

    for line in text:
        line = line.rstrip("\r\n")
        if not line.strip():
            end_block()
            if len(numbers) + len(rejected) >= chunk_rows:
                yield take_chunk()
            continue
        block_lines.append(line)
        key, sep, value = line.partition(": ")
        if not sep and line.endswith(":"):
            key, sep, value = line[:-1], ":", ""
        if not sep or "/" not in key:
            problem = problem or f"line is not 'key: value': {line[:60]!r}"
            continue
        block[key] = value
    end_block()
    if numbers or rejected:
        yield take_chunk()
