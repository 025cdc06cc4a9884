"""Model registry under ``<root>/models/``: one folder per version, a champion pointer.

A version folder holds ``model.keras``, ``vocabulary.json``, ``config.json``,
``metrics.json``, ``fingerprint.json`` and ``versions.json``, ``wide.npz`` for a
wide-and-deep model (its ``config.json`` names it as ``wide_file``), and the figures the
caller drew (a retrain: ``confusion_matrix.png``, drawn by ``reporting.charts``).
Versions sort by time: ``YYYYMMDDTHHMMSSZ-<8 hex of the training-data fingerprint>``.
``champion.json`` names the live model and is replaced atomically.

A version is complete only when its last file is in place: locally the folder is written
under a hidden temporary name (``models/.partial-<version>-<hex>``) and renamed into place
in one step; on an object store each upload is atomic and ``model.keras`` goes last, and
every reader takes a folder without it for an unfinished save.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import importlib.metadata
import os
import platform
import posixpath
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from sentiment_model.core.errors import ConfigError, is_write_refusal, storage_write_error
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.pointers import swap_json
from sentiment_model.model.sizes import DEFAULT_BUCKETS
from sentiment_model.model.subword import SubwordVocabulary
from sentiment_model.model.text import Vocabulary
from sentiment_model.model.wide import WIDE_FILE, WideNgrams

if TYPE_CHECKING:  # Keras (and TensorFlow) load only when a model does: the CLI checks the registry first
    from sentiment_model.model.classifier import SentimentClassifier

MODEL_FILE = "model.keras"
_ARTIFACTS = ("vocabulary.json", "config.json", "metrics.json", "fingerprint.json", "versions.json", MODEL_FILE)


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(fingerprint, option=orjson.OPT_SORT_KEYS)).hexdigest()


def new_version(fingerprint: dict[str, Any], now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{fingerprint_hash(fingerprint)[:8]}"


def library_versions() -> dict[str, str]:
    import keras

    names = ("keras", "tensorflow-cpu", "tensorflow", "jax", "torch", "numpy", "pyarrow", "scikit-learn", "review-sentiment")
    found: dict[str, str] = {"python": platform.python_version(), "keras_backend": keras.backend.backend()}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _dump(path: Path, payload: Any) -> None:
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


def vocabulary_json(vocabulary: Vocabulary | SubwordVocabulary) -> dict[str, Any]:
    """``{"tokens": [...]}`` for a word vocabulary, ``{"kind", "tokenizer"}`` for a subword one."""
    return vocabulary.to_json() if isinstance(vocabulary, SubwordVocabulary) else {"tokens": list(vocabulary.tokens)}


def vocabulary_from_json(payload: dict[str, Any], where: str = "vocabulary.json") -> Vocabulary | SubwordVocabulary:
    if not isinstance(payload, dict):
        raise ConfigError(f"{where} is not a JSON object: the file is damaged")
    if isinstance(payload.get("tokenizer"), str) and payload.get("kind") in ("bpe", "wordpiece"):
        return SubwordVocabulary(payload["kind"], payload["tokenizer"])
    if isinstance(payload.get("tokens"), list):
        return Vocabulary(tuple(payload["tokens"]))
    raise ConfigError(f"{where} holds neither a token list nor a subword tokenizer: the file is damaged")


def save_model(
    root: DataRoot,
    version: str,
    classifier: SentimentClassifier,
    config: dict[str, Any],
    metrics: dict[str, Any],
    fingerprint: dict[str, Any],
    figures: Mapping[str, bytes] | None = None,
) -> str:
    """Write every artifact of a trained model to ``<root>/models/<version>/`` (all or
    nothing: see the module's note), with ``figures`` (file name -> PNG bytes) beside
    them. A write the storage refuses (a full disk) is one :class:`StorageWriteError`
    line and leaves no folder for the version."""
    target = root.models_dir(version)
    if root.exists(target):
        raise FileExistsError(f"model version {version} already exists at {root.uri(target)}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        classifier.model.save(folder / MODEL_FILE)
        _dump(folder / "vocabulary.json", vocabulary_json(classifier.vocabulary))
        _dump(
            folder / "config.json",
            {
                **config,
                "max_length": classifier.max_length,
                "truncation_head": classifier.truncation_head,
                "buckets": list(classifier.buckets),
                "class_offsets": None if classifier.class_offsets is None else np.asarray(classifier.class_offsets).tolist(),
                "wide_file": None if classifier.wide is None else WIDE_FILE,
            },
        )
        if classifier.wide is not None:
            (folder / WIDE_FILE).write_bytes(classifier.wide.to_bytes())
        _dump(folder / "metrics.json", metrics)
        _dump(folder / "fingerprint.json", fingerprint)
        _dump(folder / "versions.json", library_versions())
        for name, data in (figures or {}).items():
            (folder / name).write_bytes(data)
        # model.keras stays last: on an object store, the file that makes a version complete.
        names = (*(figures or {}), *((WIDE_FILE,) if classifier.wide is not None else ()), *_ARTIFACTS)
        _publish_version(root, version, folder, names)
    return target


def _publish_version(root: DataRoot, version: str, folder: Path, names: tuple[str, ...]) -> None:
    """Copy a model's files from ``folder`` into the registry as one step (locally: a
    hidden folder renamed into place; elsewhere: the network file last)."""
    target = root.models_dir(version)
    staging = root.models_dir(f".partial-{version}-{uuid.uuid4().hex[:8]}") if root.is_local else target
    try:
        root.fs.makedirs(staging, exist_ok=True)
        for name in names:  # the network file goes last: a folder without it is an unfinished save
            root.fs.put_file(str(folder / name), root.model_file(staging, name))
        if root.is_local:
            os.rename(staging, target)
    except OSError as exc:
        if root.is_local or not isinstance(exc, FileExistsError):  # never another save's version
            root.remove_tree(staging)
        if isinstance(exc, FileExistsError) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise FileExistsError(f"model version {version} already exists at {root.uri(target)}") from None
        if is_write_refusal(exc):
            raise storage_write_error(root.uri(target), exc, f"model version {version} was not saved (nothing of it is left)") from None
        raise


def _parse_json(data: bytes, where: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object with the ``required`` keys, or a :class:`ConfigError` naming the file."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not valid JSON ({exc}): the file is damaged or truncated") from None
    missing = [key for key in required if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}: the file is damaged")
    return payload


def check_model_files(root: DataRoot, folder: str) -> None:
    """Fail early, naming the file, when a model folder's JSON files are missing or damaged."""
    local = Path(folder).is_dir()
    for name, required in _MODEL_JSON.items():
        path = root.model_file(folder, name)
        where = path if local else root.uri(path)
        try:
            data = Path(path).read_bytes() if local else root.fs.cat_file(path)
        except FileNotFoundError:
            raise ConfigError(f"{where} is missing: the model folder is incomplete") from None
        payload = _parse_json(data, where, required)
        if name == "vocabulary.json":
            vocabulary_from_json(payload, where)
        if name == "config.json" and payload.get("wide_file"):
            _check_wide_file(root, folder, str(payload["wide_file"]), local)


def _check_wide_file(root: DataRoot, folder: str, name: str, local: bool) -> None:
    """A wide-and-deep model's ``wide.npz`` must load (it is small: a few MB)."""
    path = root.model_file(folder, name)
    where = path if local else root.uri(path)
    if local:
        WideNgrams.read(Path(path), where)
        return
    with tempfile.TemporaryDirectory() as tmp:
        try:
            root.fs.get_file(path, os.path.join(tmp, name))
        except FileNotFoundError:
            raise ConfigError(f"{where} is missing: the model folder is incomplete") from None
        WideNgrams.read(Path(tmp, name), where)


_MODEL_JSON = {"config.json": ("max_length",), "vocabulary.json": ()}  # vocabulary: see vocabulary_from_json


def resolve_model_dir(root: DataRoot, reference: str) -> str:
    """``champion``, a version name, or a folder path -> the model folder (checked)."""
    if reference == "champion":
        champion = read_champion(root)
        if champion is None:
            raise ConfigError(f"no champion model under {root.uri(root.models_dir())}: run `sentiment retrain` first")
        folder = root.models_dir(champion["version"])
        if not root.exists(root.model_file(folder, MODEL_FILE)):
            raise ConfigError(f"champion pointer {root.uri(root.champion_pointer())} names {champion['version']}, but {root.uri(folder)} has no {MODEL_FILE}")
        return folder
    if "/" in reference or reference.startswith("."):
        if Path(reference, MODEL_FILE).exists():
            return str(Path(reference).resolve())
        if root.exists(root.model_file(reference, MODEL_FILE)):
            return reference
        raise ConfigError(f"{reference} is not a model folder (no {MODEL_FILE})")
    folder = root.models_dir(reference)
    if not root.exists(root.model_file(folder, MODEL_FILE)):
        raise ConfigError(f"model version {reference!r} does not exist under {root.uri(root.models_dir())}")
    return folder


def load_classifier(root: DataRoot, reference: str = "champion") -> SentimentClassifier:
    """Load a registered model by ``champion``, version, or folder path."""
    return load_model_dir(root, resolve_model_dir(root, reference))


def load_model_dir(root: DataRoot, folder: str) -> SentimentClassifier:
    """Load the model in ``folder`` (a local folder, or one in the root's filesystem).
    Any backend loads what any backend saved."""
    import keras

    from sentiment_model.model.classifier import SentimentClassifier

    with tempfile.TemporaryDirectory() as tmp:
        remote = not Path(folder).is_dir()
        local = Path(tmp) if remote else Path(folder)
        if remote:
            for name in (MODEL_FILE, "vocabulary.json", "config.json"):
                root.fs.get_file(root.model_file(folder, name), os.path.join(tmp, name))
        try:
            model = keras.saving.load_model(local / MODEL_FILE, compile=False)
        except Exception as exc:  # noqa: BLE001 - a broken file must say which one
            raise ConfigError(f"cannot load {root.uri(folder)}/{MODEL_FILE}: {exc}") from exc
        config = _parse_json((local / "config.json").read_bytes(), f"{root.uri(folder)}/config.json", _MODEL_JSON["config.json"])
        vocabulary_file = f"{root.uri(folder)}/vocabulary.json"
        vocabulary = vocabulary_from_json(_parse_json((local / "vocabulary.json").read_bytes(), vocabulary_file), vocabulary_file)
        wide = None
        if config.get("wide_file"):
            where = f"{root.uri(folder)}/{config['wide_file']}"
            if remote:
                try:
                    root.fs.get_file(root.model_file(folder, config["wide_file"]), str(local / config["wide_file"]))
                except FileNotFoundError:
                    raise ConfigError(f"{where} is missing: the model folder is incomplete") from None
            wide = WideNgrams.read(local / config["wide_file"], where)
    offsets = config.get("class_offsets")
    return SentimentClassifier(
        model=model,
        vocabulary=vocabulary,
        max_length=int(config["max_length"]),
        class_offsets=None if offsets is None else np.asarray(offsets),
        buckets=tuple(config.get("buckets") or DEFAULT_BUCKETS),
        version=posixpath.basename(folder.rstrip("/")),
        wide=wide,
        truncation_head=config.get("truncation_head"),  # absent in models before round 14: their first max_length
    )


def read_champion(root: DataRoot) -> dict[str, Any] | None:
    path = root.champion_pointer()
    if not root.exists(path):
        return None
    pointer = _parse_json(root.fs.cat_file(path), root.uri(path), ("version",))
    version = pointer["version"]
    # The version names a folder: anything but a plain name would resolve somewhere else.
    if not isinstance(version, str) or not version or "/" in version or version.startswith("."):
        raise ConfigError(f"{root.uri(path)}: version {version!r} is not a model version name: the file is damaged")
    return pointer


def promotion_decision(challenger_f1: float, champion_f1: float | None, tolerance: float) -> tuple[bool, str]:
    """Promote unless the challenger is worse than the champion by more than ``tolerance``."""
    if champion_f1 is None:
        return True, "first model: promoted"
    if challenger_f1 + tolerance >= champion_f1:
        return True, f"macro-F1 {challenger_f1:.4f} >= champion {champion_f1:.4f} - tolerance {tolerance}"
    return False, f"macro-F1 {challenger_f1:.4f} < champion {champion_f1:.4f} - tolerance {tolerance}: kept registered, not promoted"


class ChampionChanged(RuntimeError):
    """Another promotion moved the champion while this gate compared against the old one."""


_UNCHECKED = object()


def promote(root: DataRoot, version: str, macro_f1: float, reason: str, expected_champion: Any = _UNCHECKED) -> dict[str, Any]:
    """Point ``champion.json`` at ``version`` with a compare-and-swap. With
    ``expected_champion`` (the version the gate compared against, ``None`` for "no
    champion yet"), the swap happens only if the champion is still that one; otherwise
    :class:`ChampionChanged` is raised and the pointer is left as the other promotion set it."""

    def decide(current: dict[str, Any] | None) -> dict[str, Any]:
        standing = current["version"] if current else None
        if expected_champion is not _UNCHECKED and standing != expected_champion:
            raise ChampionChanged(f"not promoted: the champion changed from {expected_champion} to {standing} while model {version} was being compared; run the gate again against the new champion")
        return {
            "version": version,
            "macro_f1": macro_f1,
            "promoted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "reason": reason,
            "previous": standing,
        }

    _, pointer = swap_json(root, root.champion_pointer(), decide)
    return pointer
