"""The real-time service under load, and the exported formats against Keras.

A default-size network (TrainConfig's embedding and LSTM sizes, one seed) is trained for
one epoch on a 6K subsample of the shared corpus's training split: speed does not depend
on how well it is trained, and agreement/F1 differences are measured against this model.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import child
from benchmarks.common import labelled_splits, median_seconds

CLIENT_LEVELS = (1, 8, 64)
REQUESTS = {1: 200, 8: 1_000, 64: 3_000}
UNBATCHED_REQUESTS = {1: 200, 8: 400, 64: 800}  # one model call per request: slow, fewer requests
READY_TIMEOUT_S = 300  # model load on a busy machine
EXPORT_ROWS = 2_000  # test rows scored by every format (TFLite runs one padded review at a time)


def _trained_root(work: Path, quick: bool) -> Any:
    """A data root whose champion is a freshly trained default-size single network."""
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.model.registry import promote, save_model
    from sentiment_model.training.data import stratified_sample, texts_and_labels
    from sentiment_model.training.metrics import classification_metrics
    from sentiment_model.training.train import TrainConfig, train_classifier

    splits = labelled_splits()
    train = stratified_sample(splits["train"], n=2_000 if quick else 6_000, seed=13)
    config = TrainConfig(epochs=1, ensemble_size=1)
    result = train_classifier(train, splits["validation"], config, log=lambda _: None)
    texts, labels = texts_and_labels(splits["test"])
    probabilities = result.classifier.predict_proba(texts)
    metrics = {"test": classification_metrics(labels, probabilities, result.classifier.decide(probabilities))}
    root = DataRoot(str(work / "root"))
    version = "20300101T000000Z-benc0001"
    save_model(root, version, result.classifier, {"train": config.to_dict()}, metrics, {"class_counts": {}})
    promote(root, version, metrics["test"]["macro_f1"], "benchmark")
    return root


def _export_rows(root: Any, work: Path, quick: bool) -> list[dict[str, Any]]:
    """Size, single-review latency, batch throughput and test macro-F1 of each format."""
    from sentiment_model.model.export import export_classifier, load_exported
    from sentiment_model.model.registry import load_classifier
    from sentiment_model.training.data import texts_and_labels
    from sentiment_model.training.metrics import classification_metrics

    keras_model = load_classifier(root)
    texts, labels = texts_and_labels(labelled_splits()["test"])
    rows_n = 500 if quick else EXPORT_ROWS
    texts, labels = texts.slice(0, rows_n), labels[:rows_n]
    lengths = keras_model.encode(texts)[1]
    typical = texts[int(np.argsort(lengths)[len(lengths) // 2])].as_py()  # a review of median length
    candidates = {"keras (model.keras)": (keras_model, Path(root.models_dir(keras_model.version)) / "model.keras")}
    for format, quantize in (("onnx", False), ("onnx", True), ("tflite", False), ("tflite", True)):
        folder = export_classifier(keras_model, work / f"{format}-{quantize}", format, quantize)
        name = f"{format}{' int8 weights (dynamic)' if quantize else ''}"
        candidates[name] = (load_exported(folder), folder / f"model.{format}")
    reference = keras_model.decide(keras_model.predict_proba(texts))
    rows = []
    for name, (classifier, path) in candidates.items():
        classifier.predict_proba([typical])
        single_s, _, _ = median_seconds(lambda c=classifier: c.predict_proba([typical]), 30)
        batch_s, _, probabilities = median_seconds(lambda c=classifier: c.predict_proba(texts), 1 if name.startswith("tflite") else 3)
        predicted = classifier.decide(probabilities)
        rows.append(
            {
                "format": name,
                "file_mb": path.stat().st_size / 2**20,
                "single_review_ms": single_s * 1000,
                "batch_reviews_per_s": rows_n / batch_s,
                "test_macro_f1": classification_metrics(labels, probabilities, predicted)["macro_f1"],
                "agreement_with_keras": float(np.mean(predicted == reference)),
            }
        )
    keras_f1 = rows[0]["test_macro_f1"]
    for row in rows:
        row["macro_f1_minus_keras"] = row["test_macro_f1"] - keras_f1
    return rows


def start_service(root: Any, port: int, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """`sentiment serve` over ``root``'s champion on 127.0.0.1:``port`` (its output in
    ``log``), returned once /readyz answers 200."""
    import httpx

    process = child.start(child.sentiment_command("serve", "--data-root", root.url, "--port", str(port), *options), log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited:\n{log.read_text()[-child.ERROR_TAIL_CHARS :]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"the service was not ready in {READY_TIMEOUT_S} s:\n{log.read_text()[-child.ERROR_TAIL_CHARS :]}")


async def _drive(url: str, reviews: list[dict[str, str]], clients: int, requests: int) -> dict[str, Any]:
    """``clients`` concurrent loops sending one review per request until ``requests`` are
    done (aiohttp: a fraction of httpx's CPU per request, and the client shares the cores);
    rate and latencies of the answered (200) requests, the rest counted as errors (503s of
    load shedding included)."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def client_loop(http: aiohttp.ClientSession) -> None:
        nonlocal next_index, errors
        while next_index < requests:
            review = reviews[next_index % len(reviews)]
            next_index += 1
            started = time.perf_counter()
            try:
                async with http.post(url, json=review) as response:
                    await response.read()
                    answered = response.status == 200
            except aiohttp.ClientError:  # counted, not retried: a dropped connection is a failed request
                answered = False
            if answered:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(http) for _ in range(clients)))
        seconds = time.perf_counter() - started
    q = np.percentile(np.asarray(latencies) * 1000, [50, 95, 99]) if latencies else [float("nan")] * 3
    return {"reviews_per_s": len(latencies) / seconds, "p50_ms": float(q[0]), "p95_ms": float(q[1]), "p99_ms": float(q[2]), "requests": len(latencies) + errors, "errors": errors}


def _batch_stats(base: str) -> tuple[float, float]:
    """Model calls and reviews so far, from the service's own histogram."""
    import httpx

    text = httpx.get(f"{base}/metrics", timeout=30).text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("sentiment_batch_reviews_")}
    return values.get("sentiment_batch_reviews_count", 0.0), values.get("sentiment_batch_reviews_sum", 0.0)


def _serving_rows(root: Any, work: Path, quick: bool) -> list[dict[str, Any]]:
    from sentiment_model.core.settings import get_settings

    test = labelled_splits()["test"]
    reviews = [{"text": text or "", "title": title or ""} for title, text in zip(test.column("title").to_pylist(), test.column("text").to_pylist(), strict=True)]
    batching_on = f"on (max 256 reviews, {get_settings().serve_max_wait_ms:g} ms)"
    setups = [("keras", 256, batching_on), ("keras", 1, "off"), ("onnx", 256, batching_on)]
    rows = []
    for runtime, batch_size, batching in setups:
        port, log = child.free_port(), work / f"serve-{runtime}-{batch_size}.log"
        process = start_service(root, port, log, "--runtime", runtime, "--max-batch-size", str(batch_size))
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(_drive(f"{base}/v1/predict", reviews[-200:], 8, 200))  # warm-up, other texts
            for clients in CLIENT_LEVELS if runtime == "keras" else (8, 64):
                calls_before, reviews_before = _batch_stats(base)
                requests = (REQUESTS if batch_size > 1 else UNBATCHED_REQUESTS)[clients] // (5 if quick else 1)
                measured = asyncio.run(_drive(f"{base}/v1/predict", reviews, clients, requests))
                calls, scored = _batch_stats(base)
                rows.append(
                    {
                        "runtime": runtime,
                        "micro_batching": batching,
                        "clients": clients,
                        **measured,
                        "mean_reviews_per_model_call": (scored - reviews_before) / max(1.0, calls - calls_before),
                        "load_average_1min": os.getloadavg()[0],
                    }
                )
                print("   ", rows[-1], flush=True)
                if measured["errors"]:
                    print(f"    {measured['errors']} failed requests; the service's log ends:\n{log.read_text()[-2000:]}", flush=True)
        finally:
            child.stop(process)
    return rows


def _model_description() -> str:
    from sentiment_model.training.train import TrainConfig

    c = TrainConfig()
    frozen = f" + frozen {c.frozen_embeddings}" if c.frozen_embeddings else ""
    ngrams = f", n-gram branch ({c.ngram_buckets:,} buckets)" if c.ngram_buckets else ""
    return f"the default network ({c.embedding_dim}-dim {c.embeddings} embedding{frozen}, BiLSTM {c.lstm_units}, {c.pooling}{ngrams}), one network, 1 epoch on 6K reviews"


def serving(quick: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        started = time.perf_counter()
        root = _trained_root(work, quick)
        train_seconds = time.perf_counter() - started
        print(f"    trained in {train_seconds:.0f} s", flush=True)
        export_rows = _export_rows(root, work, quick)
        print(f"    exports measured at {time.perf_counter() - started:.0f} s", flush=True)
        rows = _serving_rows(root, work, quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    at64 = [r for r in rows if r["runtime"] == "keras" and r["clients"] == 64 and r["micro_batching"] != "off"]
    at8 = [r for r in rows if r["runtime"] == "keras" and r["clients"] == 8 and r["micro_batching"] != "off"]
    return {
        "rows": rows,
        "export_rows": export_rows,
        "model": _model_description(),
        "train_seconds": train_seconds,
        "load_generator": "aiohttp in the benchmark process (on the same 2 cores), one review per request, keep-alive",
        "target_64_clients_reviews_per_s": 1_000,
        "measured_64_clients_reviews_per_s": at64[0]["reviews_per_s"] if at64 else None,
        "target_8_clients_p99_ms": 100,
        "measured_8_clients_p99_ms": at8[0]["p99_ms"] if at8 else None,
        "export_test_rows": 500 if quick else EXPORT_ROWS,
        "load_average_1min_at_end": os.getloadavg()[0],
        "export_timing": "medians of 30 single-review calls and of 3 batch runs (1 for TFLite); tokenization included",
    }
