"""Models loaded once per process: every file task of a night (threads of one worker)
scores with the same loaded classifier instead of loading it per file."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from sentiment_model.core.layout import DataRoot
from sentiment_model.model.registry import load_model_dir

if TYPE_CHECKING:  # Keras loads with the first model, not with this module
    from sentiment_model.model.classifier import SentimentClassifier

_LOADED: dict[tuple[str, str], SentimentClassifier] = {}
_LOCK = threading.Lock()


def loaded_model(root: DataRoot, model_dir: str) -> SentimentClassifier:
    """The classifier in ``model_dir``, loaded on first use in this process."""
    key = (root.url, model_dir)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load_model_dir(root, model_dir)
        return _LOADED[key]
