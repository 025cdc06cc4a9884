"""The FastAPI app of ``sentiment serve``: predict, health, readiness, metrics, OpenAPI docs."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import EMPTY_TEXT_LABEL, LABELS
from sentiment_model.core.settings import Settings
from sentiment_model.model.classifier import Labelled
from sentiment_model.model.text import review_text
from sentiment_model.serving.batcher import MicroBatcher, NotAcceptingError, QueueFullError
from sentiment_model.serving.holder import ModelHolder, score_texts
from sentiment_model.serving.limits import RequestGuard
from sentiment_model.serving.metrics import ServiceMetrics

RETRY_AFTER_SECONDS = "1"
PREDICT_PATH = "/v1/predict"


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(description="The review body.")
    title: StrictStr | None = Field(default=None, description="The review title (joined to the body as the model was trained).")


class PredictRequest(BaseModel):
    """Either one review (``text`` and optional ``title``) or ``reviews``: a list of them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "Broke after a week.", "title": "Junk"}, {"reviews": [{"text": "Love it"}]}]})

    text: StrictStr | None = None
    title: StrictStr | None = None
    reviews: list[Review] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def one_review_or_a_list(self) -> PredictRequest:
        if (self.text is None) == (self.reviews is None):
            raise ValueError("send either 'text' (one review, optional 'title') or 'reviews' (a list of {text, title}), not both or neither")
        if self.title is not None and self.text is None:
            raise ValueError("'title' belongs to a single review: send it with 'text', or inside each item of 'reviews'")
        return self

    def as_reviews(self) -> list[Review]:
        return self.reviews if self.reviews is not None else [Review(text=self.text or "", title=self.title)]


class TopToken(BaseModel):
    token: str
    score: float


class Prediction(BaseModel):
    label: str = Field(
        description=f"One of {', '.join(LABELS)} (after the model's decision offsets), or {EMPTY_TEXT_LABEL} for a text without a token (probabilities all 0), as batch scoring labels it."
    )
    probabilities: dict[str, float]
    truncated: bool = Field(description="The text was longer than the model reads: part of it was not scored.")
    top_tokens: list[TopToken] | None = Field(default=None, description="With ?explain=true: the tokens that drove the prediction.")


class SinglePrediction(Prediction):
    model_version: str


class BatchPrediction(BaseModel):
    model_version: str
    predictions: list[Prediction]


def review_texts(reviews: list[Review], max_chars: int) -> tuple[list[str], list[bool]]:
    """What the model reads of each review (``text.review_text``, as batch scoring reads
    it), title and body each cut to ``max_chars``; and which were cut. Unpaired surrogates
    (valid JSON escapes, not UTF-8) become U+FFFD so one odd review cannot fail a shared batch."""

    def utf8(value: str) -> str:
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")

    titles = [utf8(review.title or "") for review in reviews]
    bodies = [utf8(review.text) for review in reviews]
    texts = review_text(pa.array(titles, pa.string()), pa.array(bodies, pa.string()), max_chars).to_pylist()
    return texts, [len(title) > max_chars or len(body) > max_chars for title, body in zip(titles, bodies, strict=True)]


class _RequestMetrics:
    """ASGI middleware: request counts and latency by route template, method and status
    (outside the request guard, so its 413 and 408 are counted too)."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._observe(scope, status, started)

    def _observe(self, scope: dict[str, Any], status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")  # the template, never the raw path
        labels = {"route": route, "method": scope["method"], "status": str(status)}
        self.metrics.requests.labels(**labels).inc()
        self.metrics.latency.labels(**labels).observe(time.perf_counter() - started)


class _ShedEarly:
    """ASGI middleware: while the model is over its latency budget even for one more
    review, a prediction request is answered 503 before FastAPI parses it, so a flood of
    refused requests costs the event loop (which the model call shares) as little as can be."""

    def __init__(self, app: Any, batcher: MicroBatcher) -> None:
        self.app, self.batcher = app, batcher

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        why = self.batcher.refusal(1) if scope["type"] == "http" and scope["path"] == PREDICT_PATH and scope["method"] == "POST" else None
        if why is None:
            await self.app(scope, receive, send)
            return
        self.batcher.count_refusal()
        scope["route"] = SimpleNamespace(path=PREDICT_PATH)  # for the request metrics
        message = await receive()
        while message["type"] == "http.request" and message.get("more_body"):  # small, and bounded by the guard
            message = await receive()
        response = JSONResponse({"detail": f"busy: {why}; retry later"}, 503, headers={"Retry-After": RETRY_AFTER_SECONDS})
        await response(scope, receive, send)


def _iso(unix_seconds: float | None) -> str | None:
    return None if unix_seconds is None else dt.datetime.fromtimestamp(unix_seconds, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create_app(settings: Settings, holder: ModelHolder | None = None, metrics: ServiceMetrics | None = None) -> FastAPI:
    """The service for ``settings``; ``holder`` defaults to the registry's ``serve_model``."""
    metrics = metrics or (holder.metrics if holder and holder.metrics else ServiceMetrics())
    if holder is None:
        holder = ModelHolder(DataRoot(settings.data_root, settings.storage_options), settings.serve_model, settings.serve_runtime, settings.serve_poll_seconds, metrics)
    holder.metrics = metrics

    def score(texts: list[str]) -> Labelled:
        served = holder.current
        if served is None:
            raise RuntimeError("no model is loaded")
        return score_texts(served, texts)

    batcher = MicroBatcher(score, settings.serve_max_batch_size, settings.serve_max_wait_ms / 1000, settings.serve_max_queue, metrics, settings.serve_latency_budget_ms / 1000)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        watcher = asyncio.get_running_loop().create_task(holder.watch(), name="model-watch")
        app.state.watcher = watcher
        try:
            yield
        finally:
            watcher.cancel()
            await batcher.stop()  # graceful: everything queued is scored and answered
            with contextlib.suppress(asyncio.CancelledError, Exception):  # the watcher's end must not fail the shutdown
                await watcher

    app = FastAPI(
        title="review-sentiment",
        description="Real-time sentiment of product reviews with the registry's champion model.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(_ShedEarly, batcher=batcher)  # added first: the innermost
    app.add_middleware(RequestGuard, max_body_bytes=settings.serve_max_body_bytes, body_timeout=settings.serve_body_timeout_s)
    app.add_middleware(_RequestMetrics, metrics=metrics)  # the outermost: counts every answer
    app.state.holder, app.state.batcher, app.state.metrics = holder, batcher, metrics

    def unavailable(detail: str) -> HTTPException:
        return HTTPException(status_code=503, detail=detail, headers={"Retry-After": RETRY_AFTER_SECONDS})

    @app.post(PREDICT_PATH, response_model=SinglePrediction | BatchPrediction, response_model_exclude_none=True)
    async def predict(body: PredictRequest, explain: bool = Query(False, description="Add the top tokens of each prediction.")) -> Any:
        """Score one review or a list; the label is decided with the model's tuned offsets."""
        reviews = body.as_reviews()
        if len(reviews) > settings.serve_max_items:
            raise HTTPException(413, f"{len(reviews)} reviews in one request; the limit is {settings.serve_max_items}")
        if holder.current is None:
            raise unavailable("the model is still loading")
        texts, cut = review_texts(reviews, settings.serve_max_text_chars)
        try:
            scored: Labelled = await batcher.submit(texts)
        except QueueFullError as exc:
            raise unavailable(f"busy: {exc}; retry later") from None
        except NotAcceptingError as exc:
            raise unavailable(str(exc)) from None
        explanations = await asyncio.to_thread(lambda: [holder.current.classifier.explain(text) for text in texts]) if explain else None
        predictions = []
        for i in range(len(scored)):
            prediction: dict[str, Any] = {
                "label": scored.labels[i],
                "probabilities": {name: float(p) for name, p in zip(LABELS, scored.probabilities[i], strict=True)},
                "truncated": bool(scored.read_partly[i] or cut[i]),
            }
            if explanations is not None:
                prediction["top_tokens"] = explanations[i]["top_tokens"]
            predictions.append(prediction)
        # A response, not a dict: the fields are built above as the schema says, so FastAPI's
        # validate-and-serialize pass (response_model: the documented schema) is skipped.
        if body.reviews is None:
            return JSONResponse({**predictions[0], "model_version": scored.version})
        return JSONResponse({"model_version": scored.version, "predictions": predictions})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """200 once a model is loaded and has answered its warm-up call, else 503; which
        model is live and since when, and how the last champion check went."""
        served, watcher = holder.current, getattr(app.state, "watcher", None)
        checks = {
            "watching": watcher is not None and not watcher.done(),
            "last_checked": _iso(holder.last_checked),
            "last_check_error": holder.last_error,
        }
        if served is None:
            return JSONResponse({"ready": False, "detail": "loading the model", **checks}, status_code=503, headers={"Retry-After": RETRY_AFTER_SECONDS})
        return JSONResponse({"ready": True, "model_version": served.version, "runtime": holder.runtime, "since": _iso(served.since), **checks})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
