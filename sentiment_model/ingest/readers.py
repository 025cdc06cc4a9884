"""Streaming readers: a raw dump in, chunks of raw string columns out.

Every reader yields :class:`RawChunk` objects: a table whose columns are the raw fields
as strings (plus ``record_number``), and the records it could not parse at all, each with
its raw text and a reason. Memory stays bounded by the chunk size, whatever the file size.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

import orjson
import pyarrow as pa
import pyarrow.json as pajson

from sentiment_model.ingest.chunks import RECORD_NUMBER, UNDECODABLE_MARK, UNDECODABLE_MARK_UTF8, RawChunk, Rejected, check_encoding, strings_table, unmark, utf8_stream
from sentiment_model.ingest.csv_reader import read_csv
from sentiment_model.ingest.sources import SourceSpec

_JSON_BLOCK_BYTES = 8 << 20


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
            rejected.append(Rejected(number, unmark(text), f"undecodable bytes: not valid {encoding}"))
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
    return RawChunk(strings_table(rows, numbers), rejected)


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
                if UNDECODABLE_MARK_UTF8 in data:
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
            rejected.append(Rejected(record, unmark("\n".join(block_lines)), problem))
        else:
            for name in fields:
                rows[name].append(block.get(name))
            numbers.append(record)
        block, block_lines, problem = {}, [], None

    def take_chunk() -> RawChunk:
        nonlocal rows, numbers, rejected
        chunk = RawChunk(strings_table(rows, numbers), rejected)
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
