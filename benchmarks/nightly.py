"""The nightly flows through Prefect, each in a fresh process with its own temporary Prefect
API (`prefect_test_harness`): `load` (the nightly-scoring flow over a large day, peak
memory), `orchestration` (a small day through Prefect vs the library calls directly) and
`report` (the report flow over a day with a full trailing window)."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from benchmarks import child
from benchmarks.day_roots import LOAD_DAY, replicated_day_root, scored_copy_of_incoming, small_day_root


@contextmanager
def _rss_every_second() -> Iterator[list[tuple[float, int]]]:
    """(seconds since start, RSS in MB) of this process, sampled every second."""
    samples: list[tuple[float, int]] = []
    stop, started = threading.Event(), time.perf_counter()

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append((round(time.perf_counter() - started, 1), round(child.status_mb("VmRSS:"))))

    threading.Thread(target=sample, daemon=True).start()
    try:
        yield samples
    finally:
        stop.set()


def measured_load(root_url: str, day: str) -> dict[str, Any]:
    """In the child: the nightly-scoring flow over ``day``, with RSS samples."""
    with child.temporary_prefect_api():
        from flows.nightly_scoring import nightly_scoring
        from sentiment_model.scoring.config import ScoringConfig

        before_mb = child.status_mb("VmHWM:")
        started = time.perf_counter()
        with _rss_every_second() as samples:
            outcome = nightly_scoring(data_root=root_url, config=ScoringConfig(run_date=dt.date.fromisoformat(day)))
            seconds = time.perf_counter() - started
    return {"outcome": outcome, "seconds": seconds, "before_flow_mb": before_mb, "samples": samples}


def load(reviews: int = 1_000_000, quick: bool = False) -> dict[str, Any]:
    """The nightly job at scale: the `nightly-scoring` flow (score every file on the default
    two threads, publish, report) over one day of ``reviews`` reviews, in its own process,
    with peak memory (VmHWM) and an RSS sample every second."""
    from sentiment_model.scoring.batch import read_scored_day
    from sentiment_model.training.config import RetrainConfig
    from sentiment_model.training.train import scoring_networks

    reviews = 20_000 if quick else reviews
    networks, _ = scoring_networks(RetrainConfig().train)
    root, work, _ = replicated_day_root(reviews)
    run = child.run(measured_load, root.url, LOAD_DAY.isoformat())
    day = run["outcome"]["days"][LOAD_DAY.isoformat()]
    scored_rows = read_scored_day(root, LOAD_DAY).num_rows
    if day["scored"] + day["quarantined"] != reviews or scored_rows != day["scored"]:
        raise RuntimeError(f"load benchmark: {reviews} reviews in, {day['scored']} scored + {day['quarantined']} quarantined, {scored_rows} rows published")
    shutil.rmtree(work, ignore_errors=True)
    samples = run["samples"]
    end = samples[-1][0] if samples else 0.0
    stride = max(1, len(samples) // 60)
    return {
        "reviews": reviews,
        "rows": [
            {
                "run": f"nightly-scoring flow (2 threads), default champion shape ({networks} network{'s' if networks > 1 else ''}{' and the wide part' if RetrainConfig().train.wide_terms else ''})",
                "reviews_per_s": reviews / run["seconds"],
                "seconds": run["seconds"],
                "peak_rss_mb": run["peak_rss_mb"],
                "scored": day["scored"],
                "quarantined": day["quarantined"],
            }
        ],
        "peak_rss_mb": run["peak_rss_mb"],
        "peak_before_flow_mb": run["before_flow_mb"],
        "memory_goal_mb": 2048,
        "rss_mb_first_minute_max": max((mb for t, mb in samples if t <= 60), default=None),
        "rss_mb_last_minute_max": max((mb for t, mb in samples if t >= end - 60), default=None),
        "rss_timeline": samples[::stride],
    }


def measured_orchestration() -> dict[str, Any]:
    """In the child: three warm runs of a small day straight through the library, then
    three through the nightly-scoring flow, then the report alone."""
    from sentiment_model.core.layout import new_run_id
    from sentiment_model.model.registry import load_classifier
    from sentiment_model.scoring.batch import score_day

    root, day = small_day_root()
    classifier = load_classifier(root, "champion")
    direct = []
    for _ in range(3):
        started = time.perf_counter()
        score_day(root, classifier, day, new_run_id())
        direct.append(time.perf_counter() - started)
    with child.temporary_prefect_api():
        from flows.nightly_scoring import nightly_scoring
        from sentiment_model.scoring.config import ScoringConfig

        flow_times = []
        for _ in range(3):
            started = time.perf_counter()
            nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=day))
            flow_times.append(time.perf_counter() - started)
    started = time.perf_counter()
    from sentiment_model.reporting.context import ModelContext
    from sentiment_model.reporting.reports import build_report

    build_report(root, day, ModelContext(version="bench", training_counts={"negative": 1, "neutral": 1, "positive": 1}))
    return {"direct": direct, "prefect": flow_times, "report_seconds": time.perf_counter() - started}


def orchestration(quick: bool = False) -> dict[str, Any]:
    """A nightly run of a small day through Prefect vs the same library calls directly."""
    times = child.run(measured_orchestration)
    direct, flow = float(np.median(times["direct"])), float(np.median(times["prefect"]))
    return {
        "rows": [
            {"path": "library: score_day (score + publish)", "median_seconds": direct, "runs": times["direct"]},
            {"path": "Prefect flow: nightly_scoring (score + publish + report + artifacts)", "median_seconds": flow, "runs": times["prefect"]},
        ],
        "report_seconds": times["report_seconds"],
        "overhead_seconds": flow - direct - times["report_seconds"],
        "note": "warm runs on a temporary local Prefect API; the first start of the API (8-14 s) is not included",
    }


def measured_report(root_url: str, day: str, window_days: int) -> dict[str, Any]:
    """In the child: one cold run of the report flow (TensorFlow import and model load included)."""
    with child.temporary_prefect_api():
        from flows.report import report as report_flow

        started = time.perf_counter()
        summary = report_flow(run_date=dt.date.fromisoformat(day), data_root=root_url, model_version="bench", report_options={"window_days": window_days})
        seconds = time.perf_counter() - started
    return {
        "flow": seconds,
        "timings": summary["timings_seconds"],
        "incidents": len(summary["incidents"]),
        "lime_seconds": summary["explanations"]["seconds_per_explanation"],
        "explained": len(summary["explanations"]["reviews"]),
        "text_drift_auc": (summary["text_drift"] or {}).get("auc"),
        "reviews": summary["reviews"],
    }


def report(reviews: int = 200_000, window_days: int = 30, quick: bool = False) -> dict[str, Any]:
    """The nightly report and its artifacts for one scored day of ``reviews`` real reviews
    with a full trailing window (``window_days`` earlier days of the same size): the
    `report` flow (build + artifacts, on a temporary local API, one cold run: TensorFlow
    import and model load included), with the report's own per-stage timings. The scored day is synthesized from the
    shared corpus (probabilities drawn around the stars), the model is the untrained
    default-shape champion: no training, same costs."""
    reviews = 20_000 if quick else reviews
    window_days = 3 if quick else window_days
    root, work, _ = replicated_day_root(reviews)
    scored_copy_of_incoming(root, LOAD_DAY)
    for back in range(1, window_days + 1):  # the same reviews on every trailing day: cheap to stage
        earlier = LOAD_DAY - dt.timedelta(days=back)
        for kind in (root.incoming_dir, root.scored_dir):
            root.fs.copy(kind(LOAD_DAY), kind(earlier), recursive=True)
    run = child.run(measured_report, root.url, LOAD_DAY.isoformat(), window_days)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "reviews": run["reviews"],
        "window_days": window_days,
        "rows": [
            {"path": "Prefect flow: report (build + artifacts)", "seconds": run["flow"], "reviews": run["reviews"], "trailing_reviews": run["reviews"] * window_days},
        ],
        "stage_seconds_in_flow": run["timings"],
        "lime_seconds_per_explanation": run["lime_seconds"],
        "explained_reviews": run["explained"],
        "incidents": run["incidents"],
        "goal_seconds": 60,
        "note": "one cold run of the flow in a fresh process (model load, language model load included)",
    }
