"""Compare-and-swap for the pipeline's pointer files: ``canonical/CURRENT.json``,
``scored/date=D/_MANIFEST.json`` and ``models/champion.json``.

:func:`swap_json` reads the pointer, asks ``decide`` what it should become, and writes
that only if nobody wrote the pointer in between:

- local disk: an exclusive ``fcntl.flock`` on ``<pointer>.lock`` beside the pointer, held
  only around read-decide-write (the write itself is temp file + rename, so readers never
  need the lock);
- ``gs://``: the upload is conditioned on the generation that was read
  (``ifGenerationMatch``, 0 = "must not exist yet"); a writer that loses re-reads and
  decides again;
- ``memory://``: the store lives in one process, so a per-pointer thread lock is exact;
- any other backend: refused with :class:`PointerBackendError` (no primitive to build a
  compare-and-swap on, so two writers could silently undo each other).

``decide`` may run more than once (after a lost race) and must not have side effects.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import orjson

from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot

Pointer = dict[str, Any]
Decide = Callable[[Pointer | None], Pointer | None]

#: Lost races before a swap gives up (each one means another writer succeeded).
MAX_ATTEMPTS = 50
_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


class PointerBackendError(ConfigError):
    """The data root's storage has no way to swap a pointer safely."""


class PointerConflict(RuntimeError):
    """Other writers kept winning the swap; nothing was written by this one."""


def _protocols(root: DataRoot) -> tuple[str, ...]:
    protocol = root.fs.protocol
    return protocol if isinstance(protocol, tuple) else (protocol,)


def _encode(payload: Pointer) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def swap_json(root: DataRoot, path: str, decide: Decide) -> tuple[bool, Pointer | None]:
    """Compare-and-swap the JSON pointer at ``path``. ``decide(current)`` returns the new
    pointer, or ``None`` to leave it as it is. Returns ``(written, pointer now standing)``."""
    from fsspec.implementations.memory import MemoryFileSystem

    if root.is_local:
        with _local_lock(path):
            return _read_decide_write(root, path, decide)
    if isinstance(root.fs, MemoryFileSystem):
        with _memory_lock(path):
            return _read_decide_write(root, path, decide)
    if {"gs", "gcs"} & set(_protocols(root)):
        return _gcs_swap(root, path, decide)
    raise PointerBackendError(f"cannot swap {root.uri(path)} safely: storage {_protocols(root)[0]!r} has no compare-and-swap here; use a local folder, gs:// or memory://")


def _read_decide_write(root: DataRoot, path: str, decide: Decide) -> tuple[bool, Pointer | None]:
    current = root.read_json(path) if root.exists(path) else None
    new = decide(current)
    if new is None:
        return False, current
    root.write_json_atomic(path, new)
    return True, new


@contextlib.contextmanager
def _local_lock(path: str) -> Iterator[None]:
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(f"{path}.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released by close, also if the process dies
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _memory_lock(path: str) -> Iterator[None]:
    with _MEMORY_LOCKS_GUARD:
        lock = _MEMORY_LOCKS.setdefault(path, threading.Lock())
    with lock:
        yield


def _gcs_swap(root: DataRoot, path: str, decide: Decide) -> tuple[bool, Pointer | None]:
    fs = root.fs
    for attempt in range(MAX_ATTEMPTS):
        fs.invalidate_cache(path)
        try:
            # Generation first, content second: if a write lands in between, the content
            # is newer than the generation and the conditional write below fails.
            generation = int(fs.info(path)["generation"])
            current = orjson.loads(fs.cat_file(path))
        except FileNotFoundError:
            generation, current = 0, None
        new = decide(current)
        if new is None:
            return False, current
        if gcs_write_if_generation(fs, path, _encode(new), generation):
            return True, new
        time.sleep(random.uniform(0, 0.02 * 2 ** min(attempt, 5)))  # another writer won: re-read
    raise PointerConflict(f"{root.uri(path)}: {MAX_ATTEMPTS} other writers won the swap in a row; nothing written")


def gcs_write_if_generation(fs: Any, path: str, data: bytes, generation: int) -> bool:
    """Upload ``data`` to ``path`` only if the object's generation is ``generation`` (0: only
    if it does not exist). False when the precondition failed (HTTP 412)."""
    bucket, key, _ = fs.split_path(path)
    metadata = json.dumps({"name": key, "contentType": "application/json"})
    body = b"--==0==\nContent-Type: application/json; charset=UTF-8\n\n" + metadata.encode() + b"\n--==0==\nContent-Type: application/json\n\n" + data + b"\n--==0==--"
    try:
        fs.call(
            "POST",
            f"{fs._location}/upload/storage/v1/b/{quote(bucket)}/o",
            uploadType="multipart",
            headers={"Content-Type": 'multipart/related; boundary="==0=="'},
            data=body,
            json_out=True,
            ifGenerationMatch=str(generation),
        )
    except FileExistsError:  # gcsfs maps 412 Precondition Failed to FileExistsError
        return False
    finally:
        fs.invalidate_cache(path)
    return True
