"""Micro-batching: concurrent requests gathered into one model call.

One worker drains a bounded queue: it takes the first waiting request, then keeps taking
requests until the batch holds ``max_batch_size`` reviews or ``max_wait`` has passed since
the first one, and runs the scoring function on all their texts in a single worker thread
(the event loop never runs the model). The scoring function does the length bucketing and
token budget, so a long review in the batch does not pad the short ones.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sentiment_model.serving.metrics import ServiceMetrics


class QueueFullError(RuntimeError):
    """The queue holds ``max_queue`` requests: the client should retry later."""


class NotAcceptingError(RuntimeError):
    """The batcher is shutting down."""


class Sliceable(Protocol):
    def __getitem__(self, rows: slice) -> Any: ...


@dataclass
class _Pending:
    texts: Sequence[str]
    future: asyncio.Future[Any]


@dataclass
class MicroBatcher:
    """``await batcher.submit(texts)`` -> the scoring function's result for those texts."""

    score: Callable[[list[str]], Sliceable]
    max_batch_size: int = 256
    max_wait_seconds: float = 0.004
    max_queue: int = 1024
    metrics: ServiceMetrics | None = None
    _queue: asyncio.Queue[_Pending | None] = field(init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)
    _accepting: bool = field(default=False, init=False)
    _executor: concurrent.futures.ThreadPoolExecutor = field(init=False)
    _carried: _Pending | None = field(default=None, init=False)  # too big for the last batch: starts the next

    def start(self) -> None:
        """Start the worker (inside the running event loop)."""
        self._queue = asyncio.Queue(self.max_queue)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._accepting = True
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    def waiting(self) -> int:
        return self._queue.qsize()

    async def submit(self, texts: Sequence[str]) -> Any:
        if not self._accepting:
            raise NotAcceptingError("the service is shutting down")
        pending = _Pending(texts, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            if self.metrics:
                self.metrics.rejected.inc()
            raise QueueFullError(f"{self.max_queue} requests are waiting for the model") from None
        self._observe_queue()
        return await pending.future

    async def stop(self) -> None:
        """Stop accepting, score everything already queued, then end the worker."""
        self._accepting = False
        if self._worker is None:
            return
        await self._queue.put(None)  # behind every queued request: they are scored first
        await self._worker
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            first, self._carried = self._carried or await self._queue.get(), None
            if first is None:
                return
            batch, stop = await self._gather(first)
            await self._score_batch(batch)
            if stop:
                return

    async def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """The first request plus whoever arrives within the wait, up to the batch size."""
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait_seconds
        while size < self.max_batch_size:
            if self._queue.empty():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            if item is None:
                return batch, True
            if size + len(item.texts) > self.max_batch_size:
                self._carried = item
                break
            batch.append(item)
            size += len(item.texts)
        self._observe_queue()
        return batch, False

    async def _score_batch(self, batch: list[_Pending]) -> None:
        texts = [text for pending in batch for text in pending.texts]
        started = time.perf_counter()
        try:
            scored = await asyncio.get_running_loop().run_in_executor(self._executor, self.score, texts)
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        if self.metrics:
            self.metrics.model_seconds.observe(time.perf_counter() - started)
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
            self.metrics.queue_depth.set(self._queue.qsize())
