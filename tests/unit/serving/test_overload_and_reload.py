"""Load shedding (503 with Retry-After, at once or at the front of the queue), and a hot
reload that outlives a champion pointer it cannot read."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from sentiment_model.core.layout import DataRoot
from sentiment_model.model.registry import load_classifier, read_champion
from sentiment_model.serving.app import create_app
from sentiment_model.serving.batcher import CallCost, MicroBatcher, QueueFullError
from sentiment_model.serving.holder import ModelHolder
from tests.unit.serving.test_service import TIMEOUT_S, GatedModel, settings_for, wait_for


@pytest.fixture(scope="module")
def champion(tiny_champion_root):
    return load_classifier(tiny_champion_root)


class FixedCost:
    """A call cost known in advance: 100 s per review, so a test's own delays never matter."""

    def known(self) -> bool:
        return True

    def observe(self, n: int, seconds: float) -> None:
        pass

    def seconds(self, n: int, max_batch: int) -> float:
        return 100.0 * n


def test_a_request_predicted_over_the_budget_is_503_at_once_and_queued_ones_are_scored(tiny_champion_root, champion):
    gated = GatedModel(champion.model)
    classifier = load_classifier(tiny_champion_root)
    classifier.model = gated
    holder = ModelHolder(tiny_champion_root, reference=str(champion.version), loader=lambda _: classifier)
    app = create_app(settings_for(tiny_champion_root, serve_max_batch_size=1, serve_latency_budget_ms=250_000), holder=holder)
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        wait_for(lambda: client.get("/readyz").status_code == 200, "the model to load")
        app.state.batcher.cost = FixedCost()
        gated.gate.clear()
        try:
            calls_before = gated.calls
            first = pool.submit(client.post, "/v1/predict", json={"text": "great"})
            wait_for(lambda: gated.calls > calls_before, "the first request to reach the model")
            queued = pool.submit(client.post, "/v1/predict", json={"text": "awful"})  # predicted: < 100 s left + 100 s
            wait_for(lambda: app.state.batcher.waiting() == 1, "the second request to queue")
            refused = client.post("/v1/predict", json={"text": "so so"})  # < 100 s + 200 s: over the 250 s budget
        finally:
            gated.gate.set()
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1" and "over the budget of 250000 ms" in refused.text, refused.text
        assert [f.result(TIMEOUT_S).status_code for f in (first, queued)] == [200, 200]
        assert "sentiment_rejected_total 1.0" in client.get("/metrics").text


def test_batcher_refuses_behind_a_standing_queue_and_skips_requests_whose_client_left():
    release, started, scored = threading.Event(), threading.Event(), []

    def blocking_score(texts: list[str]) -> list[str]:
        scored.append(list(texts))
        started.set()
        assert release.wait(TIMEOUT_S)
        return texts

    async def scenario() -> None:
        batcher = MicroBatcher(blocking_score, max_batch_size=1, max_queue=10, latency_budget_seconds=0.05)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["x"]))
        while not started.is_set():
            await asyncio.sleep(0.01)
        old = asyncio.ensure_future(batcher.submit(["old"]))
        gone = asyncio.ensure_future(batcher.submit(["gone"]))
        await asyncio.sleep(0)
        gone.cancel()
        while batcher.oldest_wait() <= 0.05:
            await asyncio.sleep(0.01)
        with pytest.raises(QueueFullError, match="waited over 50 ms"):
            await batcher.submit(["refused"])
        release.set()
        assert (await first, await old) == (["x"], ["old"])  # admitted work is scored, however late
        assert await batcher.submit(["new"]) == ["new"]
        await batcher.stop()

    asyncio.run(scenario())
    assert scored == [["x"], ["old"], ["new"]]  # the abandoned request never reached the model


def test_call_cost_is_fitted_as_overhead_plus_per_review():
    cost = CallCost()
    assert not cost.known()
    for n in (1, 8, 64, 3, 32, 128):
        cost.observe(n, 0.010 + 0.001 * n)
    overhead, per_review = cost.coefficients()
    assert cost.known() and overhead == pytest.approx(0.010) and per_review == pytest.approx(0.001)
    assert cost.seconds(300, max_batch=256) == pytest.approx(2 * 0.010 + 0.300)  # two calls
    same_size = CallCost()
    for _ in range(5):
        same_size.observe(64, 0.128)
    assert same_size.coefficients() == (0.0, pytest.approx(0.002))  # cannot tell: all per review


@pytest.fixture
def own_root(tiny_champion_root, tmp_path) -> DataRoot:
    shutil.copytree(Path(tiny_champion_root.models_dir()), tmp_path / "models")
    return DataRoot(str(tmp_path))


class CountedChecks:
    """A holder whose champion checks are counted, so a test can wait for polls."""

    def __init__(self, root: DataRoot) -> None:
        self.holder, self.calls = ModelHolder(root, poll_seconds=0.05), 0
        refresh = self.holder.refresh

        def counted() -> bool:
            self.calls += 1
            return refresh()

        self.holder.refresh = counted  # type: ignore[method-assign]

    def wait_for_checks(self, n: int) -> None:
        target = self.calls + n
        wait_for(lambda: self.calls >= target, f"{n} more checks")


def cut_pointer(root: DataRoot) -> dict:
    """champion.json cut short, as a plain copy in progress leaves it; returns the pointer."""
    pointer = read_champion(root)
    Path(root.champion_pointer()).write_bytes(orjson.dumps(pointer)[:9])
    return pointer


def test_reload_survives_an_unreadable_pointer_then_follows_a_good_one(own_root):
    """Item 2: a rollback done with a plain copy leaves champion.json half-written for a
    moment; the watcher keeps the model, reads the pointer again and follows it."""
    checks = CountedChecks(own_root)
    with TestClient(create_app(settings_for(own_root), holder=checks.holder)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, "the model to load")
        pointer = cut_pointer(own_root)
        checks.wait_for_checks(3)  # each of them met the cut pointer
        assert client.post("/v1/predict", json={"text": "great"}).json()["model_version"] == pointer["version"]
        new = "20260505T000000Z-aced0005"
        shutil.copytree(own_root.models_dir(pointer["version"]), own_root.models_dir(new))
        Path(own_root.champion_pointer()).write_bytes(orjson.dumps({**pointer, "version": new}))  # the copy completes
        wait_for(lambda: client.get("/readyz").json().get("model_version") == new, "the reload after the unreadable pointer")
        assert client.post("/v1/predict", json={"text": "great"}).json()["model_version"] == new
    # leaving the block shut the service down: it must not raise (it did once the watcher had died)


def test_readyz_and_metrics_report_the_live_model_and_failed_checks(own_root):
    checks = CountedChecks(own_root)
    with TestClient(create_app(settings_for(own_root), holder=checks.holder)) as client:
        ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 200 and r.json(), "the model to load")
        checks.wait_for_checks(1)
        ready = client.get("/readyz").json()
        assert ready["watching"] and ready["last_check_error"] is None and ready["last_checked"] is not None
        since = dt.datetime.fromisoformat(ready["since"])
        assert since.tzinfo is not None and since <= dt.datetime.now(dt.UTC)
        pointer = cut_pointer(own_root)
        checks.wait_for_checks(2)
        during = client.get("/readyz").json()
        assert during["model_version"] == pointer["version"] and during["since"] == ready["since"] and during["watching"]
        assert "not valid JSON" in during["last_check_error"]
        metrics = client.get("/metrics").text
        assert 'sentiment_model_reloads_total{outcome="error"}' in metrics and 'sentiment_model_reloads_total{outcome="loaded"} 1.0' in metrics
        Path(own_root.champion_pointer()).write_bytes(orjson.dumps(pointer))  # restored: the same version
        checks.wait_for_checks(2)
        after = client.get("/readyz").json()
        assert after["last_check_error"] is None and after["since"] == ready["since"] and after["model_version"] == pointer["version"]


def test_loading_a_model_freezes_the_heap_and_collects_the_model_it_replaced():
    """A full collection walking the model's objects stalled a batch ~0.35 s under load:
    the heap is frozen after each load; unfrozen first, so a replaced model (cycles and
    all) is freed at the next load instead of staying frozen for good."""
    import gc
    import weakref

    from sentiment_model.serving.holder import freeze_heap

    class Model:  # a replaced model: reachable only through its own cycle
        pass

    old = Model()
    old.self = old
    gone = weakref.ref(old)
    try:
        freeze_heap()
        assert gc.get_freeze_count() > 0
        del old
        gc.collect()
        assert gone() is not None, "frozen: a collection does not see it"
        freeze_heap()
        assert gone() is None, "the next load frees it"
    finally:
        gc.unfreeze()


def test_the_batch_window_is_long_only_while_clients_come_in_company():
    """Concurrent clients get the whole window (answered ones come back within it, so 64
    clients make one batch, not two alternating); a lone client only the short one."""
    from sentiment_model.serving.batcher import SOLO_WAIT_SECONDS, MicroBatcher

    async def scenario() -> list[float]:
        batcher = MicroBatcher(lambda texts: list(texts), max_wait_seconds=0.5)
        batcher.start()
        windows = [batcher._window()]
        await batcher.submit(["alone"])
        windows.append(batcher._window())
        await asyncio.gather(*(batcher.submit([f"together {i}"]) for i in range(3)))
        windows.append(batcher._window())
        await batcher.stop()
        return windows

    assert asyncio.run(scenario()) == [SOLO_WAIT_SECONDS, SOLO_WAIT_SECONDS, 0.5]
