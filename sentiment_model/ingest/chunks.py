"""What every reader yields (raw string columns and rejected records) and how a byte
stream becomes UTF-8 text: declared encodings, UTF-16 detection, undecodable bytes marked."""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass, field
from typing import IO

import pyarrow as pa

from sentiment_model.core.errors import SourceFormatError
from sentiment_model.ingest.sources import SourceSpec

RECORD_NUMBER = "record_number"


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
UNDECODABLE_MARK_UTF8 = UNDECODABLE_MARK.encode("utf-8")
_UTF16_BOMS = {codecs.BOM_UTF16_LE: "FF FE", codecs.BOM_UTF16_BE: "FE FF"}


def _mark_undecodable(error: UnicodeDecodeError) -> tuple[str, int]:
    return UNDECODABLE_MARK, error.end


codecs.register_error("sentiment_mark_undecodable", _mark_undecodable)


def is_wide_unicode(encoding: str) -> bool:
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
    if is_wide_unicode(spec.encoding):
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


def unmark(text: str) -> str:
    return text.replace(UNDECODABLE_MARK, "\ufffd")


def strings_table(rows: dict[str, list[str | None]], record_numbers: list[int]) -> pa.Table:
    columns = {name: pa.array(values, type=pa.string()) for name, values in rows.items()}
    columns[RECORD_NUMBER] = pa.array(record_numbers, type=pa.int64())
    return pa.table(columns)
