"""A local GCS emulator (gcp-storage-emulator) for tests, honouring upload preconditions.

gcp-storage-emulator ignores ``ifGenerationMatch`` on uploads (checked against 2026.7.19:
a stale conditional write simply overwrites), while real GCS answers 412 Precondition
Failed. The pointer compare-and-swap depends on that answer, so the emulator's upload
route is wrapped to check the precondition first, as GCS documents it: the object's
current generation must equal the value, 0 meaning "must not exist". The emulator's HTTP
server handles one request at a time, so check-then-write is atomic there too.

Its in-memory mode also still serializes all of its metadata (every object and every
deleted generation, as indented JSON) after every write, and never reads it back once
started: each write costs more the more was written before, so a long session
(``RACE_REPEAT=50``) slowed down the longer it ran. In memory, that snapshot is skipped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from tests.processes import free_port


def _object_name(request: Any) -> str | None:
    if "name" in request.query:
        return request.query["name"][0]
    data = request.data
    return data.get("meta", {}).get("name") if isinstance(data, dict) else None


def _honour_generation_match(insert: Any) -> Any:
    from gcp_storage_emulator.exceptions import NotFound

    def checked_insert(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
        expected = request.query.get("ifGenerationMatch", [None])[0]
        name = _object_name(request)
        if expected is not None and name is not None:
            try:
                current = str(storage.get_file_obj(request.params["bucket_name"], name).get("generation") or "0")
            except NotFound:
                current = "0"
            if current != str(expected):
                response.status = HTTPStatus.PRECONDITION_FAILED
                response.json({"error": {"code": 412, "message": "conditionNotMet", "errors": [{"reason": "conditionNotMet", "message": "conditionNotMet"}]}})
                return None
        return insert(request, response, storage, *args, **kwargs)

    checked_insert.honours_generation_match = True
    return checked_insert


def install_generation_preconditions() -> None:
    """Wrap the emulator's upload handler (idempotent)."""
    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    for _, methods in server.HANDLERS:
        handler = methods.get(server.POST)
        if handler is objects.insert:
            methods[server.POST] = _honour_generation_match(objects.insert)


def skip_the_metadata_snapshot_in_memory() -> None:
    """Make the storage's metadata snapshot a no-op in memory (idempotent); on disk it
    is how the emulator restarts, and is kept."""
    from gcp_storage_emulator.storage import Storage

    snapshot = Storage._write_config_to_file
    if getattr(snapshot, "skipped_in_memory", False):
        return

    def snapshot_unless_in_memory(self: Any) -> None:
        if not self._use_memory_fs:
            snapshot(self)

    snapshot_unless_in_memory.skipped_in_memory = True
    Storage._write_config_to_file = snapshot_unless_in_memory


@contextlib.contextmanager
def gcs_emulator_running(bucket: str) -> Iterator[dict[str, str]]:
    """Start an in-memory emulator with ``bucket``; yields gcsfs storage options."""
    from gcp_storage_emulator.server import create_server

    install_generation_preconditions()
    skip_the_metadata_snapshot_in_memory()
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    try:
        yield {"endpoint_url": f"http://127.0.0.1:{port}", "token": "anon"}
    finally:
        server.stop()
