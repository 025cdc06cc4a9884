"""The served model: scoring a batch of texts, warm-up, and champion hot reload.

The holder keeps one :class:`Served` (classifier + version) and replaces it as a whole:
a batch takes ``holder.current`` once, so a swap never changes the model under a batch in
flight. With ``reference == "champion"`` a poller compares the pointer's stamp
(generation / mtime / size from one ``fs.info`` call, no listing) every ``poll_seconds``;
a new version is loaded and warmed up in a thread, then swapped in. A model that fails to
load is logged and counted, and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import LABELS
from sentiment_model.model.classifier import SentimentClassifier
from sentiment_model.model.registry import load_classifier, read_champion
from sentiment_model.model.text import pad_right, tokenize
from sentiment_model.serving.metrics import ServiceMetrics

log = logging.getLogger("sentiment_model.serving")

# Keys of fsspec's info() that change when an object is replaced: GCS generation/updated,
# local mtime and inode (an atomic rename gives a new inode), size for any backend.
_STAMP_KEYS = ("generation", "updated", "mtime", "ino", "size", "etag", "md5Hash")


@dataclass(frozen=True)
class Scored:
    """Predictions for a list of texts, sliceable per request."""

    version: str
    probabilities: np.ndarray
    labels: tuple[str, ...]
    truncated: np.ndarray

    def __getitem__(self, rows: slice) -> Scored:
        return Scored(self.version, self.probabilities[rows], self.labels[rows], self.truncated[rows])

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Served:
    classifier: SentimentClassifier
    version: str


def score_texts(served: Served, texts: list[str]) -> Scored:
    """Tokenize, predict length-bucketed batches within the token budget, decide; and flag
    texts longer than ``max_length`` tokens, some of which the model did not see."""
    classifier = served.classifier
    words = tokenize(texts)
    flat_ids, offsets = classifier.vocabulary.lookup(words)
    ids, lengths = pad_right(flat_ids, offsets, classifier.max_length, classifier.truncation_head)
    probabilities = classifier.with_wide(classifier.predict_proba_ids(ids, lengths), words)
    labels = tuple(LABELS[i] for i in classifier.decide(probabilities))
    return Scored(served.version, probabilities, labels, np.diff(offsets) > classifier.max_length)


def warm_up(classifier: SentimentClassifier) -> None:
    """One call per prediction width, so the first requests do not pay for graph tracing."""
    classifier.predict_proba([" ".join(["good"] * width) for width in classifier.prediction_widths])


def pointer_stamp(root: DataRoot) -> tuple[Any, ...] | None:
    """What changes when ``champion.json`` is replaced; None when there is none."""
    path = root.champion_pointer()
    root.fs.invalidate_cache(path)  # gcsfs answers info() from its listing cache otherwise
    try:
        info = root.fs.info(path)
    except FileNotFoundError:
        return None
    return tuple(str(info.get(key)) for key in _STAMP_KEYS)


Loader = Callable[[str], SentimentClassifier]


@dataclass
class ModelHolder:
    """The model the service scores with; ``current`` is None until the first load."""

    root: DataRoot
    reference: str = "champion"
    runtime: str = "keras"
    poll_seconds: float = 10.0
    metrics: ServiceMetrics | None = None
    loader: Loader | None = None  # version or folder -> classifier; default: the registry
    current: Served | None = field(default=None, init=False)
    _stamp: tuple[Any, ...] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def watches_champion(self) -> bool:
        return self.reference == "champion"

    def _load(self, reference: str) -> Served:
        if self.loader is not None:
            classifier = self.loader(reference)
        else:
            classifier = load_classifier(self.root, reference)
            if self.runtime != "keras":
                from sentiment_model.model.export import onnx_twin

                classifier = onnx_twin(classifier, quantize=self.runtime == "onnx-quantized")
        warm_up(classifier)
        return Served(classifier, classifier.version or reference)

    def refresh(self) -> bool:
        """Load a model if none is loaded or the champion pointer moved; True if swapped.
        Blocking (run it in a thread); a failed load leaves the current model in place."""
        with self._lock:
            if self.current is not None and not self.watches_champion:
                return False
            reference = self.reference
            if self.watches_champion:
                stamp = pointer_stamp(self.root)  # before reading the pointer: a later move is seen next time
                if self.current is not None and stamp == self._stamp:
                    return False
                self._stamp = stamp
                pointer = read_champion(self.root)
                if pointer is None:
                    log.error("no champion pointer at %s; waiting for one", self.root.uri(self.root.champion_pointer()))
                    return False
                reference = pointer["version"]
                if self.current is not None and reference == self.current.version:
                    return False
            try:
                served = self._load(reference)
            except Exception as exc:  # noqa: BLE001 - a broken model must not stop the service
                log.error("cannot load model %s: %s; %s", reference, exc, "keeping " + self.current.version if self.current else "not ready")
                if self.metrics:
                    self.metrics.reloads.labels(outcome="failed").inc()
                return False
            previous, self.current = self.current, served
            if self.metrics:
                self.metrics.reloads.labels(outcome="loaded").inc()
                self.metrics.serving(served.version, self.runtime)
            log.info("serving model %s (%s)%s", served.version, self.runtime, f", was {previous.version}" if previous else "")
            return True

    async def watch(self) -> None:
        """Load now, then poll: the champion for moves, or a failed first load for a retry."""
        while True:
            await asyncio.to_thread(self.refresh)
            await asyncio.sleep(self.poll_seconds)
