"""The service in-process (FastAPI's TestClient, lifespan included) on the tiny champion."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import LABELS
from sentiment_model.core.settings import get_settings
from sentiment_model.model.registry import load_classifier, promote, read_champion
from sentiment_model.serving.app import create_app
from sentiment_model.serving.batcher import MicroBatcher, QueueFullError
from sentiment_model.serving.holder import ModelHolder

TIMEOUT_S = 60  # generous: polling stops as soon as the condition holds


def wait_for(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def champion(tiny_champion_root):
    return load_classifier(tiny_champion_root)


def settings_for(root: DataRoot, **overrides: Any):
    return get_settings(data_root=root.url, serve_poll_seconds=0.05, **overrides)


@pytest.fixture(scope="module")  # each start loads and warms the model (~2 s); no test changes it
def client(tiny_champion_root):
    with TestClient(create_app(settings_for(tiny_champion_root, serve_max_items=5, serve_max_text_chars=300, serve_max_body_bytes=20_000))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, "the model to load")
        yield client


def test_predict_one_matches_the_library(client, champion):
    response = client.post("/v1/predict", json={"text": "the kettle is awful and stopped working", "title": "waste of money"})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = champion.predict_proba(["waste of money . the kettle is awful and stopped working"])[0]
    assert body["model_version"] == champion.version
    assert body["label"] == LABELS[int(champion.decide(expected[None, :])[0])]
    assert np.allclose([body["probabilities"][name] for name in LABELS], expected, atol=1e-5)
    assert body["truncated"] is False and "top_tokens" not in body


def test_predict_many_keeps_order(client, champion):
    reviews = [{"text": "love it works perfectly"}, {"text": "it is okay nothing special", "title": "average"}, {"text": "broke after a week"}]
    response = client.post("/v1/predict", json={"reviews": reviews})
    assert response.status_code == 200, response.text
    body = response.json()
    texts = [f"{r.get('title', '')} . {r['text']}" for r in reviews]
    assert [p["label"] for p in body["predictions"]] == champion.predict(texts)
    assert body["model_version"] == champion.version


def test_explain_adds_top_tokens_from_the_text(client):
    body = client.post("/v1/predict?explain=true", json={"text": "the charger is terrible"}).json()
    assert body["top_tokens"] and all(t["token"] in {"the", "charger", "is", "terrible", "."} for t in body["top_tokens"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"text": "unterminated', "JSON decode error"),
        (b'{"text": 5}', "string"),
        (b'{"reviews": [{"text": "a", "stars": 5}]}', "Extra inputs"),
        (b'{"text": "a", "reviews": [{"text": "b"}]}', "either 'text'"),
        (b"{}", "either 'text'"),
        (b'{"reviews": []}', "at least 1"),
        (b'{"title": "only a title", "reviews": [{"text": "b"}]}', "'title' belongs"),
        (b"[1, 2]", "valid dictionary"),
    ],
)
def test_bad_input_is_422_with_a_message(client, payload, message):
    response = client.post("/v1/predict", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert message in response.text


def test_undecodable_bytes_and_lone_surrogates_are_not_500(client):
    assert client.post("/v1/predict", content=b'{"text": "\xff\xfe"}', headers={"content-type": "application/json"}).status_code in (400, 422)
    response = client.post("/v1/predict", content=b'{"text": "bad \\ud800 surrogate"}', headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


def test_oversized_input(client):
    too_many = client.post("/v1/predict", json={"reviews": [{"text": "ok"}] * 6})
    assert too_many.status_code == 413 and "limit is 5" in too_many.text
    too_big = client.post("/v1/predict", json={"text": "x" * 30_000})
    assert too_big.status_code == 413 and "over the limit" in too_big.text
    long_text = client.post("/v1/predict", json={"text": "great " * 100})  # 100 tokens: cut to 300 chars (and max_length)
    assert long_text.status_code == 200 and long_text.json()["truncated"] is True
    many_tokens = client.post("/v1/predict", json={"text": "great " * 40})  # under 300 chars, over max_length=24 tokens
    assert many_tokens.json()["truncated"] is True


def test_metrics_count_requests_by_route_and_status(client):
    client.post("/v1/predict", json={"text": "fine i guess"})
    client.post("/v1/predict", json={"text": 1})
    text = client.get("/metrics").text
    assert 'sentiment_http_requests_total{method="POST",route="/v1/predict",status="200"}' in text
    assert 'sentiment_http_requests_total{method="POST",route="/v1/predict",status="422"}' in text
    assert "sentiment_http_request_seconds_bucket" in text and "sentiment_batch_reviews_bucket" in text
    assert 'sentiment_model_info{runtime="keras",version="20260101T000000Z-cafe0001"} 1.0' in text
    assert client.get("/docs").status_code == 200 and "/v1/predict" in client.get("/openapi.json").text


class GatedModel:
    """The real tiny network behind a gate: a model call waits until the test opens it."""

    def __init__(self, model: Any) -> None:
        self.model, self.gate, self.calls = model, threading.Event(), 0
        self.gate.set()
        self.output_shape, self.layers = model.output_shape, []

    def predict_on_batch(self, ids: np.ndarray) -> np.ndarray:
        self.calls += 1
        assert self.gate.wait(TIMEOUT_S), "gate never opened"
        return self.model.predict_on_batch(ids)

    def get_layer(self, name: str) -> Any:
        raise ValueError(name)


def test_full_queue_answers_503_with_retry_after(tiny_champion_root, champion):
    gated = GatedModel(champion.model)
    classifier = load_classifier(tiny_champion_root)
    classifier.model = gated
    holder = ModelHolder(tiny_champion_root, reference=str(champion.version), loader=lambda _: classifier)
    app = create_app(settings_for(tiny_champion_root, serve_max_queue=2, serve_max_batch_size=1, serve_latency_budget_ms=600_000), holder=holder)  # no shedding by time here
    with TestClient(app) as client, ThreadPoolExecutor(4) as pool:
        wait_for(lambda: client.get("/readyz").status_code == 200, "the model to load")
        gated.gate.clear()
        calls_before = gated.calls
        first = pool.submit(client.post, "/v1/predict", json={"text": "great"})
        wait_for(lambda: gated.calls > calls_before, "the first request to reach the model")
        queued = [pool.submit(client.post, "/v1/predict", json={"text": "awful"}) for _ in range(2)]
        wait_for(lambda: app.state.batcher.waiting() == 2, "two requests to queue")
        rejected = client.post("/v1/predict", json={"text": "so so"})
        assert rejected.status_code == 503 and rejected.headers["retry-after"] == "1"
        gated.gate.set()
        assert [f.result(TIMEOUT_S).status_code for f in (first, *queued)] == [200, 200, 200]
        assert "sentiment_rejected_total 1.0" in client.get("/metrics").text


def test_not_ready_until_the_model_is_loaded(tiny_champion_root, champion):
    loaded = threading.Event()

    def slow_loader(reference: str):
        assert loaded.wait(TIMEOUT_S)
        return load_classifier(tiny_champion_root, reference)

    holder = ModelHolder(tiny_champion_root, loader=slow_loader, poll_seconds=0.05)
    with TestClient(create_app(settings_for(tiny_champion_root), holder=holder)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        assert client.post("/v1/predict", json={"text": "great"}).status_code == 503
        loaded.set()
        ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 200 and r, "readiness")
        assert ready.json()["model_version"] == champion.version
        assert client.post("/v1/predict", json={"text": "great"}).status_code == 200


@pytest.fixture
def own_root(tiny_champion_root, tmp_path) -> DataRoot:
    """A copy of the tiny champion's registry that a test may change."""
    shutil.copytree(Path(tiny_champion_root.models_dir()), tmp_path / "models")
    return DataRoot(str(tmp_path))


def test_hot_reload_follows_the_champion_and_keeps_serving_on_a_corrupt_model(own_root, champion):
    old = read_champion(own_root)["version"]
    with TestClient(create_app(settings_for(own_root))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, "the model to load")
        # A new version (same weights, new name) is promoted: the service follows.
        shutil.copytree(own_root.models_dir(old), own_root.models_dir("20260202T000000Z-beef0002"))
        promote(own_root, "20260202T000000Z-beef0002", 0.5, "test")
        wait_for(lambda: client.get("/readyz").json().get("model_version") == "20260202T000000Z-beef0002", "the reload")
        assert client.post("/v1/predict", json={"text": "great"}).json()["model_version"] == "20260202T000000Z-beef0002"
        # A corrupt one is promoted: logged and counted, the previous keeps serving.
        corrupt = Path(own_root.models_dir("20260303T000000Z-dead0003"))
        shutil.copytree(own_root.models_dir(old), corrupt)
        (corrupt / "model.keras").write_bytes(b"not a keras file")
        promote(own_root, "20260303T000000Z-dead0003", 0.9, "test")
        wait_for(lambda: 'sentiment_model_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text, "the failed reload")
        response = client.post("/v1/predict", json={"text": "great"})
        assert response.status_code == 200 and response.json()["model_version"] == "20260202T000000Z-beef0002"
        assert 'sentiment_model_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text  # not retried each poll


def test_onnx_runtime_serves_the_same_probabilities(tiny_champion_root, champion):
    with TestClient(create_app(settings_for(tiny_champion_root, serve_runtime="onnx"))) as client:
        ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 200 and r, "the ONNX model")
        assert ready.json()["runtime"] == "onnx"
        body = client.post("/v1/predict", json={"reviews": [{"text": "love it"}, {"text": "broke after a week and the cable is awful"}]}).json()
    expected = champion.predict_proba([" . love it", " . broke after a week and the cable is awful"])
    got = np.array([[p["probabilities"][name] for name in LABELS] for p in body["predictions"]])
    assert np.allclose(got, expected, atol=1e-4)


def run(coroutine):
    return asyncio.run(coroutine)


def test_batcher_gathers_concurrent_requests_into_one_call():
    calls: list[list[str]] = []

    def score(texts: list[str]) -> list[str]:
        calls.append(texts)
        return [t.upper() for t in texts]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(score, max_batch_size=8, max_wait_seconds=TIMEOUT_S)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([f"r{i}"]) for i in range(8)))
        await batcher.stop()
        return results

    assert run(scenario()) == [[f"R{i}"] for i in range(8)]
    assert calls == [[f"r{i}" for i in range(8)]]


def test_batcher_respects_the_batch_size_and_drains_on_stop():
    calls: list[int] = []

    def score(texts: list[str]) -> list[str]:
        calls.append(len(texts))
        return texts

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(score, max_batch_size=4, max_wait_seconds=0.001, max_queue=100)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit([f"a{i}", f"b{i}", f"c{i}"])) for i in range(10)]
        await asyncio.sleep(0)  # all ten are queued before stop
        await batcher.stop()
        return [p.result() for p in pending]

    results = run(scenario())
    assert results == [[f"a{i}", f"b{i}", f"c{i}"] for i in range(10)]
    assert all(size <= 4 for size in calls) and sum(calls) == 30


def test_batcher_rejects_beyond_the_queue_bound():
    release, started = threading.Event(), threading.Event()

    def blocking_score(texts: list[str]) -> list[str]:
        started.set()
        assert release.wait(TIMEOUT_S)
        return texts

    async def scenario() -> None:
        batcher = MicroBatcher(blocking_score, max_batch_size=1, max_queue=1)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["x"]))
        while not started.is_set():  # the worker took "x" and is in the model call
            await asyncio.sleep(0.01)
        second = asyncio.ensure_future(batcher.submit(["y"]))
        await asyncio.sleep(0)
        assert batcher.waiting() == 1
        with pytest.raises(QueueFullError):
            await batcher.submit(["z"])
        release.set()
        await batcher.stop()
        assert (first.result(), second.result()) == (["x"], ["y"])

    run(scenario())
