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

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from sentiment_model.core.errors import SourceFormatError
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


# --- encodings ----------------------------------------------------------------------------

#: Marks undecodable bytes: U+FDD0 is a Unicode noncharacter, never found in real text.
UNDECODABLE_MARK = "\ufdd0"
_UNDECODABLE_MARK_UTF8 = UNDECODABLE_MARK.encode("utf-8")
_UTF16_BOMS = {codecs.BOM_UTF16_LE: "FF FE", codecs.BOM_UTF16_BE: "FE FF"}


def _mark_undecodable(error: UnicodeDecodeError) -> tuple[str, int]:
    return UNDECODABLE_MARK, error.end


codecs.register_error("sentiment_mark_undecodable", _mark_undecodable)


def _is_wide_unicode(encoding: str) -> bool:
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def looks_like_utf16(head: bytes) -> str | None:
    """Why the first bytes of a file look like UTF-16 (a byte-order mark, or NUL bytes
    between ASCII characters), or None."""
    for bom, name in _UTF16_BOMS.items():
        if head.startswith(bom):
            return f"byte-order mark {name}"
    if len(head) >= 64:
        even, odd = head[0::2], head[1::2]
        for zeros, other in ((even, odd), (odd, even)):
            if zeros.count(0) >= 0.4 * len(zeros) and other.count(0) <= 0.05 * len(other):
                return "NUL bytes between characters"
    return None


def check_encoding(stream: IO[bytes], spec: SourceSpec) -> None:
    """Fail the file with one clear message when it looks like UTF-16 but is declared as
    something else: read byte by byte it would give garbage records with wrong counts."""
    if _is_wide_unicode(spec.encoding):
        return
    start = stream.tell()
    head = stream.read(4096)
    stream.seek(start)
    why = looks_like_utf16(head)
    if why:
        raise SourceFormatError(f'wrong encoding: file looks like UTF-16 ({why}) but source {spec.name!r} declares encoding={spec.encoding!r}; declare encoding = "utf-16" in its sources.toml entry')


class DecodedUtf8Stream(io.RawIOBase):
    """Bytes in any encoding -> valid UTF-8 bytes, streaming. Undecodable bytes become
    U+FDD0, so the records that held them can be quarantined instead of failing the file.
    A leading byte-order mark is dropped (it is not part of the first record)."""

    def __init__(self, raw: IO[bytes], encoding: str, chunk_bytes: int = 1 << 20) -> None:
        super().__init__()
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="sentiment_mark_undecodable")
        self._single_byte = not codecs.lookup(encoding).name.startswith("utf")
        self._chunk_bytes = chunk_bytes
        self._buffer = b""
        self._offset = 0
        self._at_start = True
        self._eof = False

    def readable(self) -> bool:
        return True

    def _decode_next(self) -> None:
        data = self._raw.read(self._chunk_bytes)
        self._eof = not data
        if self._at_start and self._single_byte and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]  # a UTF-8 BOM on a file declared latin-1 etc.
        text = self._decoder.decode(data, final=self._eof)
        if self._at_start and text:
            text = text.removeprefix("\ufeff")
            self._at_start = False
        self._buffer, self._offset = text.encode("utf-8"), 0

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._offset >= len(self._buffer) and not self._eof:
            self._decode_next()
        size = min(len(target), len(self._buffer) - self._offset)
        target[:size] = self._buffer[self._offset : self._offset + size]
        self._offset += size
        return size


def utf8_stream(raw: IO[bytes], encoding: str) -> IO[bytes]:
    """``raw`` decoded from ``encoding`` and re-encoded as UTF-8, undecodable bytes marked."""
    return io.BufferedReader(DecodedUtf8Stream(raw, encoding), buffer_size=1 << 20)


def _unmark(text: str) -> str:
    return text.replace(UNDECODABLE_MARK, "\ufffd")


def read_raw_chunks(spec: SourceSpec, stream: IO[bytes], chunk_rows: int) -> Iterator[RawChunk]:
    """Dispatch to the reader for ``spec.reader``. The stream is checked first: a UTF-16
    file declared as something else fails at once with one clear message."""
    check_encoding(stream, spec)
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


def _parse_json_lines_slow(lines: list[bytes], fields: list[str], first_record: int, encoding: str) -> RawChunk:
    """Line-by-line parse that isolates bad lines. Used only when the fast parse of a
    block fails, so one broken line costs one block's speed, not the whole file."""
    rows: dict[str, list[str | None]] = {name: [] for name in fields}
    numbers: list[int] = []
    rejected: list[Rejected] = []
    for offset, line in enumerate(lines):
        number = first_record + offset
        text = line.decode("utf-8")  # the stream is already UTF-8, undecodable bytes marked
        if UNDECODABLE_MARK in text:
            rejected.append(Rejected(number, _unmark(text), f"undecodable bytes: not valid {encoding}"))
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
    for any block that holds a malformed line, undecodable bytes or an unexpected type.
    The file is decoded from its declared encoding first."""
    fields = spec.needed_fields()
    if fields is None:
        raise ValueError(f"source {spec.name!r}: whole-row dedup keys are not supported for JSON lines")
    schema = _json_fast_schema(spec, fields)
    parse_options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    block_bytes = max(1 << 20, min(_JSON_BLOCK_BYTES, chunk_rows * 1024))
    next_record = 1
    for block in _iter_line_blocks(utf8_stream(stream, spec.encoding), block_bytes):
        for start in range(0, len(block), chunk_rows):
            lines = block[start : start + chunk_rows]
            data = b"\n".join(lines)
            try:
                if _UNDECODABLE_MARK_UTF8 in data:
                    raise pa.ArrowInvalid("undecodable bytes")
                table = pajson.read_json(
                    io.BytesIO(data),
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
                chunk = _parse_json_lines_slow(lines, fields, next_record, spec.encoding)
            next_record += len(lines)
            yield chunk


# --- CSV / TSV --------------------------------------------------------------------------


def _peek_header(stream: IO[bytes], spec: SourceSpec) -> list[str]:
    """Read the header line without consuming it (the stream must be seekable)."""
    start = stream.tell()
    first = utf8_stream(stream, spec.encoding).readline()
    stream.seek(start)
    text = _unmark(first.decode("utf-8")).rstrip("\r\n")
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
            text = _unmark(row.text or "")
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
                rejected.append(Rejected(number, _unmark(orjson.dumps(row).decode()), f"undecodable bytes: not valid {spec.encoding}"))
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


# --- SNAP 2013 text blocks ----------------------------------------------------------------


def read_snap_text(spec: SourceSpec, stream: IO[bytes], chunk_rows: int) -> Iterator[RawChunk]:
    """SNAP 2013 ``key: value`` blocks separated by blank lines. A block holding bytes
    that are not valid in the declared encoding is quarantined on its own."""
    fields = spec.needed_fields() or []
    text = io.TextIOWrapper(utf8_stream(stream, spec.encoding), encoding="utf-8", newline="\n")
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
            problem = f"malformed text block: block lacks key(s) {missing}"
        if problem is not None:
            rejected.append(Rejected(record, _unmark("\n".join(block_lines)), problem))
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
        if UNDECODABLE_MARK in line:
            problem = problem or f"undecodable bytes: not valid {spec.encoding}"
            continue
        key, sep, value = line.partition(": ")
        if not sep and line.endswith(":"):
            key, sep, value = line[:-1], ":", ""
        if not sep or "/" not in key:
            problem = problem or f"malformed text block: line is not 'key: value': {line[:60]!r}"
            continue
        block[key] = value
    end_block()
    if numbers or rejected:
        yield take_chunk()
