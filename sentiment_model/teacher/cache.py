"""Fine-tuned teachers kept under the data root (``DataRoot.teacher_dir``), keyed by the
canonical snapshot, the rows' selection and the teacher's config: a retrain of the same
data finds its teacher and the probabilities it gave, instead of fine-tuning again (an
hour on 2 CPU cores).

    teachers/<key>/weights.safetensors        the fine-tuned network, by Keras variable path
    teachers/<key>/teacher.json               config, facts; written last: the entry is whole
    teachers/<key>/probabilities-<texts>.npy  its probabilities on a set of texts
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from sentiment_model.core.layout import DataRoot
from sentiment_model.teacher.config import TeacherConfig
from sentiment_model.teacher.encoder import build_teacher
from sentiment_model.teacher.finetune import Teacher, fine_tune
from sentiment_model.teacher.weights import bert_shape, checkpoint_id
from sentiment_model.teacher.wordpiece import WordPieceTokenizer

WEIGHTS_FILE = "weights.safetensors"
FACTS_FILE = "teacher.json"


def teacher_key(snapshot_id: str, config: TeacherConfig, selection: Mapping[str, Any] | None = None) -> str:
    """The cache key: the canonical snapshot's id, how the training and validation rows were
    chosen from it (``selection``: split seed, date cut, sample...), and the config."""
    payload = {"snapshot": snapshot_id, "selection": dict(selection or {}), "config": config.to_dict(), "checkpoint": checkpoint_id()}
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


def texts_digest(texts: pa.Array) -> str:
    """A fingerprint of a list of texts (order included): names their probabilities' file."""
    digest = hashlib.sha256()
    for text in texts.to_pylist():
        encoded = (text or "").encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    return digest.hexdigest()[:20]


def save_teacher(root: DataRoot, key: str, teacher: Teacher) -> None:
    from safetensors.numpy import save

    tensors = {variable.path: np.asarray(variable) for variable in teacher.model.weights}
    root.write_bytes_atomic(root.teacher_file(key, WEIGHTS_FILE), save(tensors))
    root.write_json_atomic(root.teacher_file(key, FACTS_FILE), {"key": key, "config": teacher.config.to_dict(), "facts": teacher.facts})


def load_teacher(root: DataRoot, key: str) -> Teacher | None:
    """The cached teacher of ``key``; None when there is none (or only part of one)."""
    if not root.exists(root.teacher_file(key, FACTS_FILE)):
        return None
    from safetensors.numpy import load

    facts = root.read_json(root.teacher_file(key, FACTS_FILE))
    config = TeacherConfig.model_validate(facts["config"])
    model = build_teacher(bert_shape(), config.dropout, seed=config.seed)
    model.run_eagerly = config.eager  # predictions as the fine-tuning ran them
    tensors = load(root.fs.cat_file(root.teacher_file(key, WEIGHTS_FILE)))
    for variable in model.weights:
        variable.assign(tensors[variable.path])
    return Teacher(model, WordPieceTokenizer(config.max_length), config, {**facts["facts"], "cached": True})


def cached_teacher(
    root: DataRoot,
    snapshot_id: str,
    train: pa.Table,
    validation: pa.Table,
    config: TeacherConfig,
    selection: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> Teacher:
    """The teacher for these rows: from the cache, or fine-tuned now and stored."""
    key = teacher_key(snapshot_id, config, selection)
    found = load_teacher(root, key)
    if found is not None:
        log(f"teacher {key}: from the cache ({root.uri(root.teacher_dir(key))})")
        return found
    teacher = fine_tune(train, validation, config, log=log)
    teacher.facts |= {"key": key, "snapshot": snapshot_id, "cached": False}
    save_teacher(root, key, teacher)
    log(f"teacher {key}: fine-tuned and stored ({root.uri(root.teacher_dir(key))})")
    return teacher


def cached_probabilities(root: DataRoot, teacher: Teacher, texts: pa.Array, log: Callable[[str], None] = print) -> np.ndarray:
    """The teacher's probabilities on ``texts``, predicted once per cached teacher and set
    of texts (the student's soft labels: minutes of CPU a retrain need not repeat)."""
    path = root.teacher_file(teacher.facts["key"], f"probabilities-{texts_digest(texts)}.npy")
    if root.exists(path):
        return np.load(io.BytesIO(root.fs.cat_file(path)))
    probabilities = teacher.predict_proba(texts)
    buffer = io.BytesIO()
    np.save(buffer, probabilities.astype(np.float32))
    root.write_bytes_atomic(path, buffer.getvalue())
    log(f"teacher {teacher.facts['key']}: probabilities of {len(texts):,} texts stored")
    return probabilities
