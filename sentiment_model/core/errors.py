"""The errors every stage shares, the one check of a date range, and the retry rule:
which failures are worth retrying."""

from __future__ import annotations

import datetime as dt
import errno

import pyarrow as pa


class ConfigError(ValueError):
    """A configuration value cannot work (unknown scheme, missing model, bad pointer)."""


def check_date_range(first: dt.date | None, last: dt.date | None, names: tuple[str, str] = ("start", "end")) -> None:
    """A range whose end is before its start would silently do nothing: a ConfigError
    naming both (``names``: how the caller calls them, e.g. its options)."""
    if first is not None and last is not None and last < first:
        raise ConfigError(f"{names[1]} {last:%Y-%m-%d} is before {names[0]} {first:%Y-%m-%d}: nothing to do")


class SourceFormatError(Exception):
    """The file as a whole cannot be read (truncated gzip, wrong format, missing column)."""


_PERMANENT_ERRORS = (
    EOFError,
    SourceFormatError,
    UnicodeError,
    ValueError,
    pa.ArrowInvalid,
    FileNotFoundError,
    PermissionError,
    NotADirectoryError,
    IsADirectoryError,
    FileExistsError,
)
#: OSError numbers that say "this path cannot work", not "the storage hiccuped":
#: retrying them only delays the error (a data root that is a file was retried ~45 s).
_PERMANENT_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENAMETOOLONG, errno.EROFS, errno.EINVAL})


def is_compression_error(exc: BaseException) -> bool:
    """A gzip/zstd stream that is truncated or corrupt: the file is broken, not the storage."""
    message = str(exc).lower()
    return isinstance(exc, EOFError) or "compressed" in message or "gzip" in message


def is_transient(exc: BaseException) -> bool:
    """Storage hiccups are retried; format errors, missing files, paths that cannot work
    (not a directory, symlink loops, permission denied) and a full disk are not."""
    if isinstance(exc, _PERMANENT_ERRORS) or is_compression_error(exc):
        return False
    if isinstance(exc, OSError) and exc.errno in _PERMANENT_ERRNOS:
        return False
    return isinstance(exc, (OSError, TimeoutError, ConnectionError))
