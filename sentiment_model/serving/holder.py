"""The served model: scoring a batch of texts, warm-up, and champion hot reload.

The holder keeps one :class:`Served` (classifier + version) and replaces it as a whole:
a batch takes ``holder.current`` once, so a swap never changes the model under a batch in
flight. With ``reference == "champion"`` a poller compares the pointer's stamp
(generation / mtime / size from one ``fs.info`` call, no listing) every ``poll_seconds``;
a new version is loaded and warmed up in a thread, then swapped in. A model that fails to
load is logged and counted, and the old one keeps serving. Any other error of a check (an
unreadable or half-written pointer, storage down) is logged, counted and retried at the
next poll: the watcher never ends before the service does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import EMPTY_TEXT_LABEL, LABELS
from sentiment_model.model.classifier import SentimentClassifier
from sentiment_model.model.registry import load_classifier, read_champion
from sentiment_model.model.text import tokenize
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
    since: float = field(default_factory=time.time)  # when it was swapped in (Unix time)


def tokenless(words: pa.ListArray) -> np.ndarray:
    """True where a text gave no token: batch scoring's rule (``scoring.batch.empty_texts``,
    which serving may not import; ``tests/serving`` checks that the two agree)."""
    return np.asarray(pc.equal(pc.list_value_length(words), 0).to_numpy(zero_copy_only=False), dtype=bool)


def score_texts(served: Served, texts: list[str]) -> Scored:
    """Tokenize, predict length-bucketed batches within the token budget, decide; and flag
    texts longer than ``max_length`` tokens, some of which the model did not see. A text
    without a token is labelled ``empty_text`` with zero probabilities, never predicted,
    as batch scoring and the CLI do."""
    classifier = served.classifier
    words = tokenize(texts)
    empty = tokenless(words)
    probabilities = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    labels = np.full(len(texts), EMPTY_TEXT_LABEL, dtype=object)
    scored = np.flatnonzero(~empty)
    if len(scored):
        rows = pa.array(scored)
        ids, lengths, kept_words = classifier.encode_with_tokens(pa.array(texts, pa.string()).take(rows), words.take(rows))
        probabilities[scored] = classifier.with_wide(classifier.predict_proba_ids(ids, lengths), kept_words)
        labels[scored] = np.array(LABELS, dtype=object)[classifier.decide(probabilities[scored])]
    truncated = pc.list_value_length(words).to_numpy(zero_copy_only=False) > classifier.max_length
    return Scored(served.version, probabilities, tuple(labels.tolist()), truncated)


def warm_up(classifier: SentimentClassifier) -> None:
    """One call per prediction width, then batches of 2 and 3 rows at two widths: TensorFlow
    then traces a graph for any batch shape, so no request pays ~0.5 s for a new shape
    (and the batcher's cost estimate is not thrown off by it)."""
    classifier.predict_proba([" ".join(["good"] * width) for width in classifier.prediction_widths])
    for rows in (2, 3):
        for width in classifier.prediction_widths[:2]:
            classifier.predict_proba([" ".join(["good"] * width)] * rows)


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
    last_checked: float | None = field(default=None, init=False)  # the last check that ran to its end
    last_error: str | None = field(default=None, init=False)  # of the last check, None when it ran to its end
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
                pointer = read_champion(self.root)  # may raise (half-written): the stamp stays old, so it is read again
                self._stamp = stamp
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
                self.metrics.loaded_at.set(served.since)
            log.info("serving model %s (%s)%s", served.version, self.runtime, f", was {previous.version}" if previous else "")
            return True

    async def watch(self) -> None:
        """Load now, then poll: the champion for moves, or a failed first load for a retry.
        Survives any error of a check: logged, counted, retried at the next poll."""
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as exc:  # noqa: BLE001 - one bad moment must not end hot reload
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.metrics:
                    self.metrics.reloads.labels(outcome="error").inc()
                log.error("model check failed (%s); %s; retrying in %g s", self.last_error, "keeping " + self.current.version if self.current else "not ready", self.poll_seconds)
            else:
                self.last_checked, self.last_error = time.time(), None
            await asyncio.sleep(self.poll_seconds)
