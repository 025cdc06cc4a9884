"""Micro-batching: concurrent requests gathered into one model call, and load shedding.

One worker drains a bounded queue: it takes the first waiting request, then keeps taking
requests until the batch holds ``max_batch_size`` reviews or ``max_wait`` has passed since
the first one (``SOLO_WAIT_SECONDS`` after a batch of one request: a lone client waits for
no one), and runs the scoring function on all their texts in a single worker thread
(the event loop never runs the model). The scoring function does the length bucketing and
token budget, so a long review in the batch does not pad the short ones.

Shedding keeps the latency of accepted requests bounded when more arrive than the model
can score: a request is refused at once (503, before it queues) when ``max_queue``
requests wait, when its predicted time to an answer is over ``latency_budget_seconds``
(the rest of the call in progress, the calls for the reviews queued ahead, and its own;
each call's cost is fitted online as overhead + seconds per review), or when the oldest
waiting request has already waited that long (the prediction is off: the machine slowed
down). An idle model takes any request, and the next batch takes ``MIN_FILL`` reviews
whatever the prediction: on a machine too slow for the budget even for one call, shedding
everything else would leave one-review batches and a fraction of the throughput. A request once queued is always scored: shedding work already admitted wastes
the parsing it cost, and under a saturated event loop it can starve the model entirely.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sentiment_model.core.settings import Settings
from sentiment_model.serving.metrics import ServiceMetrics

log = logging.getLogger("sentiment_model.serving")
MIN_FILL = 32  # reviews always admitted to the next batch, whatever the prediction
SOLO_WAIT_SECONDS = 0.004  # the batch window after a batch of one request


def _default(setting: str) -> Any:
    """A limit's default: its home is the service's settings (``sentiment serve``'s options)."""
    return Settings.model_fields[setting].default


class QueueFullError(RuntimeError):
    """Too many requests wait for the model: the client should retry later."""


class NotAcceptingError(RuntimeError):
    """The batcher is shutting down."""


class Sliceable(Protocol):
    def __getitem__(self, rows: slice) -> Any: ...


@dataclass
class _Pending:
    texts: Sequence[str]
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.monotonic)


class CallCost:
    """Seconds of one model call of ``n`` reviews, ``overhead + per_review * n``: a least
    squares fit over recent calls (older ones fade), per review alone until the calls seen
    differ enough in size to tell the two apart."""

    def __init__(self, fade: float = 0.97) -> None:
        self.fade, self.sums = fade, [0.0] * 5  # weight, n, n^2, seconds, n*seconds

    def observe(self, n: int, seconds: float) -> None:
        self.sums = [s * self.fade + x for s, x in zip(self.sums, (1.0, n, n * n, seconds, n * seconds), strict=True)]

    def known(self) -> bool:
        return self.sums[0] >= 3

    def coefficients(self) -> tuple[float, float]:
        w, sn, snn, sy, sny = self.sums
        spread = w * snn - sn * sn
        if spread > 1e-6 * w * snn:
            per_review = (w * sny - sn * sy) / spread
            overhead = (sy - per_review * sn) / w
            if per_review > 0 and overhead >= 0:
                return overhead, per_review
        return 0.0, sy / max(sn, 1.0)

    def seconds(self, n: int, max_batch: int) -> float:
        """Predicted seconds to score ``n`` reviews in calls of at most ``max_batch``."""
        overhead, per_review = self.coefficients()
        return -(-n // max_batch) * overhead + n * per_review


@dataclass
class MicroBatcher:
    """``await batcher.submit(texts)`` -> the scoring function's result for those texts."""

    score: Callable[[list[str]], Sliceable]
    max_batch_size: int = _default("serve_max_batch_size")
    max_wait_seconds: float = _default("serve_max_wait_ms") / 1000
    max_queue: int = _default("serve_max_queue")
    metrics: ServiceMetrics | None = None
    latency_budget_seconds: float | None = None  # None: no shedding by predicted time
    cost: CallCost = field(default_factory=CallCost)
    _waiting: collections.deque[_Pending] = field(default_factory=collections.deque, init=False)
    _queued_reviews: int = field(default=0, init=False)
    _in_call: tuple[float, int] | None = field(default=None, init=False)  # (started, reviews) of the call running
    _last_requests: int = field(default=1, init=False)  # requests in the last batch: was there company to wait for?
    _arrived: asyncio.Event = field(init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)
    _accepting: bool = field(default=False, init=False)
    _stopping: bool = field(default=False, init=False)
    _executor: concurrent.futures.ThreadPoolExecutor = field(init=False)

    def start(self) -> None:
        """Start the worker (inside the running event loop)."""
        self._arrived = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._accepting, self._stopping = True, False
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    def waiting(self) -> int:
        return len(self._waiting)

    def oldest_wait(self) -> float:
        """Seconds the oldest waiting request has waited (0 when none waits)."""
        return time.monotonic() - self._waiting[0].enqueued if self._waiting else 0.0

    def predicted_seconds(self, reviews: int) -> float | None:
        """Predicted seconds until ``reviews`` more would be scored; None while unknown."""
        if not self.cost.known():
            return None
        running = 0.0
        if self._in_call is not None:
            started, n = self._in_call
            running = max(0.0, self.cost.seconds(n, self.max_batch_size) - (time.monotonic() - started))
        return running + self.cost.seconds(self._queued_reviews + reviews, self.max_batch_size)

    def refusal(self, reviews: int) -> str | None:
        """Why ``reviews`` more would be refused now (None: they would be queued)."""
        if not self._accepting:
            return "the service is shutting down"
        if len(self._waiting) >= self.max_queue:
            return f"{self.max_queue} requests are waiting for the model"
        budget = self.latency_budget_seconds
        if budget is None or not (self._waiting or self._in_call is not None):  # an idle model takes anything: it keeps learning its cost
            return None
        if self._queued_reviews + reviews <= min(self.max_batch_size, MIN_FILL):  # a budget under one call's cost must not starve the batches
            return None
        predicted = self.predicted_seconds(reviews)
        if predicted is not None and predicted > budget:
            return f"the model is {predicted * 1000:.0f} ms behind, over the budget of {budget * 1000:g} ms"
        if self.oldest_wait() > budget:
            return f"requests have waited over {budget * 1000:g} ms for the model"
        return None

    async def submit(self, texts: Sequence[str]) -> Any:
        if not self._accepting:
            raise NotAcceptingError("the service is shutting down")
        why = self.refusal(len(texts))
        if why is not None:
            self.count_refusal()
            raise QueueFullError(why)
        pending = _Pending(texts, asyncio.get_running_loop().create_future())
        self._waiting.append(pending)
        self._queued_reviews += len(texts)
        self._arrived.set()
        self._observe_queue()
        return await pending.future

    async def stop(self) -> None:
        """Stop accepting, answer everything already queued, then end the worker."""
        self._accepting = False
        if self._worker is None:
            return
        self._stopping = True
        self._arrived.set()
        await self._worker
        self._executor.shutdown(wait=True)

    def count_refusal(self) -> None:
        if self.metrics:
            self.metrics.rejected.inc()

    def _take(self) -> _Pending | None:
        """The oldest waiting request whose client is still there."""
        while self._waiting:
            pending = self._waiting.popleft()
            self._queued_reviews -= len(pending.texts)
            if not pending.future.done():  # done: cancelled, its client went away
                return pending
        return None

    async def _next(self, timeout: float | None) -> _Pending | None:
        """The next request, waiting up to ``timeout`` (None: until one comes or stop)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pending = self._take()
            if pending is not None or self._stopping:
                return pending
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return None

    async def _run(self) -> None:
        carried: _Pending | None = None  # too big for the last batch: starts the next
        while True:
            first, carried = carried or await self._next(None), None
            if first is None:  # stopping and nothing left
                return
            batch, carried = await self._gather(first)
            try:
                await self._score_batch(batch)
            except Exception as exc:  # noqa: BLE001 - a bug in the bookkeeping must not end the worker
                log.exception("micro-batcher: a batch failed outside the model call")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)

    def _window(self) -> float:
        """How long a batch waits for company: the whole ``max_wait_seconds`` when the last
        batch had several requests (concurrent clients, whose answered ones come back within
        it), at most ``SOLO_WAIT_SECONDS`` when it had one (a lone client waits for no one)."""
        return self.max_wait_seconds if self._last_requests > 1 else min(self.max_wait_seconds, SOLO_WAIT_SECONDS)

    async def _gather(self, first: _Pending) -> tuple[list[_Pending], _Pending | None]:
        """The first request plus whoever arrives within the wait, up to the batch size;
        and a request that did not fit."""
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self._window()
        while size < self.max_batch_size:
            item = await self._next(max(0.0, deadline - time.monotonic()))
            if item is None:
                break
            if size + len(item.texts) > self.max_batch_size:
                self._observe_queue()
                return batch, item
            batch.append(item)
            size += len(item.texts)
        self._observe_queue()
        return batch, None

    async def _score_batch(self, batch: list[_Pending]) -> None:
        texts = [text for pending in batch for text in pending.texts]
        started = time.monotonic()
        self._in_call, self._last_requests = (started, len(texts)), len(batch)
        try:
            scored = await asyncio.get_running_loop().run_in_executor(self._executor, self.score, texts)
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        finally:
            self._in_call = None
        seconds = time.monotonic() - started
        self.cost.observe(len(texts), seconds)
        if self.metrics:
            self.metrics.model_seconds.observe(seconds)
            self.metrics.batch_reviews.observe(len(texts))
            self.metrics.batch_requests.observe(len(batch))
            self.metrics.reviews.inc(len(texts))
        start = 0
        for pending in batch:
            stop = start + len(pending.texts)
            if not pending.future.done():  # a client that went away cancelled its future
                pending.future.set_result(scored[start:stop])
            start = stop

    def _observe_queue(self) -> None:
        if self.metrics:
            self.metrics.queue_depth.set(len(self._waiting))
