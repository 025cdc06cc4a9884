"""Parquet parts the pipeline wrote, checked before they are read: a truncated or damaged
part is named in one line (:class:`CorruptFileError`) instead of failing a reader deep
inside DuckDB or Arrow with a message that names no file."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from sentiment_model.core.errors import corrupt_file_error, is_unreadable_data
from sentiment_model.core.layout import DataRoot

#: The smallest Parquet file: "PAR1" + footer length (4 bytes) + "PAR1".
_MIN_PARQUET_BYTES = 12


def parquet_footer(root: DataRoot, path: str) -> pq.FileMetaData:
    """The footer of the Parquet file at ``path``, or a :class:`CorruptFileError` naming it
    (a missing file still raises FileNotFoundError: a vanished input is its own case)."""
    try:
        if root.fs.size(path) < _MIN_PARQUET_BYTES:
            raise pa.ArrowInvalid(f"{root.fs.size(path)} bytes: too small for a Parquet file")
        with root.fs.open(path, "rb") as handle:
            return pq.ParquetFile(handle).metadata
    except Exception as exc:
        if not is_unreadable_data(exc):  # a missing file or a storage hiccup keeps its type
            raise
        raise corrupt_file_error(root.uri(path), exc) from None


def readable_parts(root: DataRoot, paths: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """``paths`` split into the readable ones and ``{"file", "reason"}`` for each part whose
    footer cannot be read (for a window of past nights, where one bad part must not stop
    the night)."""
    good, skipped = [], []
    for path in paths:
        try:
            parquet_footer(root, path)
        except ValueError as exc:  # CorruptFileError is a ConfigError, a ValueError
            skipped.append({"file": root.uri(path), "reason": str(exc)})
        else:
            good.append(path)
    return good, skipped
