"""Input checks every command runs before anything loads or is written: data root,
model, Dask address, sources manifest (each a one-line ConfigError)."""

from __future__ import annotations

import os


def checked_data_root(data_root: str | None, model: str | None = None, writes: bool = True) -> str:
    """Fail fast, before any flow run starts and before anything is written: the
    settings must be valid, the data root's scheme known and, locally, the root a folder
    (or creatable as one) that can be written when the command ``writes``; a named model
    (version, champion) must exist with readable files."""
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.core.settings import get_settings

    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    root.fs  # noqa: B018 - resolves the scheme; raises ConfigError for an unknown one
    if root.is_local:
        check_local_folder(root.path, "data root", writes)
    if model is not None:
        from sentiment_model.model.registry import check_model_files, resolve_model_dir

        check_model_files(root, resolve_model_dir(root, model))
    return settings.data_root


def check_local_folder(path: str, what: str, writes: bool = False) -> None:
    """The nearest existing ancestor of ``path`` (itself included) must be a folder (and
    writable, when the command ``writes``): a file there, a symlink loop, a read-only
    mount or a permission error fails now, with one line."""
    import stat
    from pathlib import Path

    from sentiment_model.core.errors import ConfigError

    for candidate in (Path(path), *Path(path).parents):
        try:
            mode = candidate.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):  # an ancestor that is a file is reported below
            continue
        except OSError as exc:
            raise ConfigError(f"{what} {path}: {exc.strerror} ({candidate})") from None
        if not stat.S_ISDIR(mode):
            raise ConfigError(f"{what} {path}: {candidate} is a file, not a folder")
        # access() answers EROFS for a read-only mount even to root (a chmod does not stop root).
        if writes and not os.access(candidate, os.W_OK | os.X_OK):
            reason = "read-only file system" if os.statvfs(candidate).f_flag & os.ST_RDONLY else "permission denied"
            raise ConfigError(f"{what} {path}: {candidate} cannot be written ({reason}); this command writes under the data root")
        return


def checked_dask_address(address: str | None, timeout_s: float = 5.0) -> None:
    """Connect once to the scheduler before the run: an unreachable one is a typo or a
    cluster that is down, not something to find out after the day's files are listed."""
    import socket
    from urllib.parse import urlsplit

    from sentiment_model.core.errors import ConfigError

    if not address:
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls"):
        return
    try:
        host, port = parts.hostname, parts.port or 8786
    except ValueError as exc:
        raise ConfigError(f"Dask scheduler address {address!r} is not host:port: {exc}") from None
    if not host:
        raise ConfigError(f"Dask scheduler address {address!r} has no host")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from None


def checked_sources(manifest: str | None, base_uri: str | None) -> None:
    """The manifest must parse and every entry must match at least one file."""
    from sentiment_model.core.errors import ConfigError
    from sentiment_model.core.settings import get_settings
    from sentiment_model.ingest.sources import load_manifest, resolve_files

    settings = get_settings(sources_manifest=manifest, sources_base_uri=base_uri)
    loaded = load_manifest(settings.sources_manifest, settings.sources_base_uri)
    for spec in loaded.sources:
        try:
            files = resolve_files(spec, loaded.base_uri, settings.storage_options)
        except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
            raise ConfigError(f"{settings.sources_manifest}: source {spec.name!r}: {exc}") from None
        if not files:
            raise ConfigError(f"{settings.sources_manifest}: source {spec.name!r}: no file matches {spec.uri!r} under {loaded.base_uri}")
