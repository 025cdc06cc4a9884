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
import dataclasses
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sentiment_model.core.layout import DataRoot
from sentiment_model.model.classifier import Labelled, SentimentClassifier
from sentiment_model.model.registry import load_classifier, read_champion
from sentiment_model.serving.metrics import ServiceMetrics

log = logging.getLogger("sentiment_model.serving")

# Keys of fsspec's info() that change when an object is replaced: GCS generation/updated,
# local mtime and inode (an atomic rename gives a new inode), size for any backend.
_STAMP_KEYS = ("generation", "updated", "mtime", "ino", "size", "etag", "md5Hash")


@dataclass(frozen=True)
class Served:
    classifier: SentimentClassifier
    version: str
    since: float = field(default_factory=time.time)  # when it was swapped in (Unix time)


def score_texts(served: Served, texts: list[str]) -> Labelled:
    """The classifier's one path (:meth:`SentimentClassifier.label`), labelled with the
    version that scored them."""
    return dataclasses.replace(served.classifier.label(texts), version=served.version)


def warm_up(classifier: SentimentClassifier) -> None:
    """One call per prediction width, then batches of 2 and 3 rows at two widths: TensorFlow
    then traces a graph for any batch shape, so no request pays ~0.5 s for a new shape
    (and the batcher's cost estimate is not thrown off by it)."""
    classifier.predict_proba([" ".join(["good"] * width) for width in classifier.prediction_widths])
    for rows in (2, 3):
        for width in classifier.prediction_widths[:2]:
            classifier.predict_proba([" ".join(["good"] * width)] * rows)


def freeze_heap() -> None:
    """Move every object alive now (the framework, the model, its graphs) out of the
    garbage collector's sight: a full collection otherwise walks them all, and under load
    one such pause held a whole batch of requests ~0.35 s (p99 583 ms at 64 clients;
    docs/benchmarks.md). Unfrozen first, so a model replaced since the last load is
    collected now: at most one old model outlives its swap."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


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
        freeze_heap()
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
