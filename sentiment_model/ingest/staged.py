"""The staged-rows store that makes ingest incremental.

A source file's staged rows are kept under ``<root>/_staged/<file key>/`` while the live
snapshot uses them. The key hashes what decides the rows: the file's URL, its size and
storage version (GCS generation or checksum, else modification time), the manifest
entry (less its name) and the source of the reader and normalization code. A later run
that computes the same key reuses the rows instead of reading the file again; a new or
changed file (or changed code) gets a new key and is read.
"""

from __future__ import annotations

import functools
import hashlib
import posixpath
from pathlib import Path
from typing import Any

import fsspec
import orjson

from sentiment_model.core.layout import DataRoot
from sentiment_model.ingest.sources import SourceSpec

#: Bump when the staged part layout changes.
STAGE_FORMAT = 1
#: What fsspec's ``info`` reports about an object's version, most specific first.
_VERSION_FIELDS = ("generation", "md5Hash", "crc32c", "ETag", "etag", "mtime", "created", "LastModified")


def source_identity(source: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Size and version of a source file, or ``None`` when the storage reports no version
    (such a file is always read again)."""
    fs, path = fsspec.core.url_to_fs(source, **(storage_options or {}))
    info = fs.info(path)
    for name in _VERSION_FIELDS:
        if info.get(name) not in (None, ""):
            return {"size": info.get("size"), name: str(info[name])}
    return None


@functools.cache
def code_fingerprint() -> str:
    """Hash of the modules that turn raw bytes into staged rows: new code, new rows."""
    from sentiment_model.core import schema
    from sentiment_model.ingest import normalize, readers, sources

    digest = hashlib.md5(str(STAGE_FORMAT).encode())
    for module in (readers, normalize, sources, schema):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def file_key(spec: SourceSpec, source: str, identity: dict[str, Any]) -> str:
    payload = {"source": source, "spec": spec.model_dump(exclude={"name"}), "identity": identity, "code": code_fingerprint()}
    return hashlib.md5(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def load_staged(root: DataRoot, key: str) -> dict[str, Any] | None:
    """The record of a staged file, or ``None`` if it was never staged (or not to the end)."""
    path = root.staged_manifest(key)
    if not root.exists(path):
        return None
    staged = root.read_json(path)
    return staged if root.exists(staged["folder"]) else None


def save_staged(root: DataRoot, key: str, staged: dict[str, Any]) -> None:
    """Written last, atomically: a file counts as staged only once this exists."""
    root.write_json_atomic(root.staged_manifest(key), staged)


def remove_unused_staged(root: DataRoot, keep: set[str]) -> int:
    """Drop staged rows no file of the live snapshot uses (and superseded copies of those
    it uses). Returns how many files' staged rows were removed."""
    store = root.staged_store()
    if not root.exists(store):
        return 0
    removed = 0
    for folder in root.fs.ls(store, detail=False):
        key = posixpath.basename(folder.rstrip("/"))
        if key not in keep:
            root.remove_tree(folder)
            removed += 1
            continue
        staged = load_staged(root, key)
        live = posixpath.basename(staged["folder"].rstrip("/")) if staged else None
        for entry in root.fs.ls(folder, detail=False):
            if posixpath.basename(entry.rstrip("/")) != live and root.fs.isdir(entry):
                root.remove_tree(entry)
    return removed
