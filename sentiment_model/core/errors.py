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


class StorageWriteError(ConfigError):
    """The storage refused a write (disk full, read-only, a file where a folder must be);
    what was published before stays as it was."""


class CorruptFileError(ConfigError):
    """A data file the pipeline wrote cannot be read back (a truncated or damaged Parquet
    part); the message names the file."""


#: What a refused write is called, by errno: the one line a user reads.
_WRITE_REFUSALS = {errno.ENOSPC: "disk full (no space left on the device)", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system", errno.EACCES: "permission denied"}


def is_write_refusal(exc: BaseException) -> bool:
    """The storage says no to a write for good (full, read-only, not allowed): one line for
    the user, not a retry. Other OSErrors keep their type (a hiccup may be retried)."""
    return isinstance(exc, OSError) and exc.errno in _WRITE_REFUSALS


def storage_write_error(target: str, exc: OSError, kept: str = "") -> StorageWriteError:
    """One line for a write the storage refused: what, where, and what was kept."""
    what = _WRITE_REFUSALS.get(exc.errno or 0) or (exc.strerror or str(exc) or type(exc).__name__)
    return StorageWriteError(f"cannot write {target}: {what}" + (f"; {kept}" if kept else ""))


def is_unreadable_data(exc: BaseException) -> bool:
    """Arrow's verdict on a file's bytes (bad magic, a corrupt page), not a storage hiccup:
    Arrow raises ``ArrowInvalid`` for a bad footer and a bare ``OSError`` without errno for
    a corrupt page; network errors are subclasses or carry an errno (and are retried)."""
    return isinstance(exc, (pa.ArrowException, ValueError)) or (type(exc) is OSError and exc.errno is None)


def corrupt_file_error(where: str, exc: BaseException) -> CorruptFileError:
    """One line naming a Parquet file that cannot be read, with the reader's first line."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return CorruptFileError(f"{where} is not a readable Parquet file ({reason}): it is truncated or damaged")


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
