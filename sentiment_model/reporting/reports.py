"""The nightly report, as a story: query the scored Parquet (``queries.py``, SQL in
``sql/``), read the texts (``texts.py``), compute the sections (``sections.py``, with
``monitoring.py``), let the monitor judge the night (``signals.py``, ``incidents.py``),
draw and render (``charts.py``, ``render.py``), and write HTML, markdown, chart PNGs and
summary.json as one set."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import orjson

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import ReportOptions, ReportThresholds
from sentiment_model.reporting import incidents, monitoring, sections, signals
from sentiment_model.reporting.charts import report_charts
from sentiment_model.reporting.context import ModelContext
from sentiment_model.reporting.queries import ReportQueries
from sentiment_model.reporting.render import render_html, render_markdown, signal_rows
from sentiment_model.reporting.texts import read_window_texts, scan_day_texts


class Stopwatch:
    """Seconds per step of the report (summary.json's ``timings_seconds``)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self._clock
        self._clock = now

    def since_last_lap(self) -> float:
        return time.perf_counter() - self._clock


@dataclass
class Night:
    """What the queries and the texts say about the night, before the monitor judges it."""

    day_rows: int
    classes: tuple[str, ...]
    has_stars: bool
    skipped: list[dict[str, str]]
    stars: list[dict[str, Any]]
    distribution: list[dict[str, Any]]
    other_labels: dict[str, int]
    trend: list[dict[str, Any]]
    products: list[dict[str, Any]]
    histogram: list[dict[str, Any]]
    live: dict[str, Any]
    drift: dict[str, Any]
    histograms: dict[str, Any]
    ratings: list[dict[str, Any]]
    health: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    explanations: dict[str, Any] | None = None


def build_report(
    root: DataRoot,
    day: dt.date,
    model: ModelContext | None = None,
    options: ReportOptions | None = None,
) -> dict[str, Any]:
    """Run every report query and check for ``day`` and write report.html (one
    self-contained file), report.md, the chart PNGs and summary.json under
    ``<root>/reports/date=D/``. Returns the summary, with the night's ``signals`` and
    ``incidents``, the ``tables`` and ``charts`` the UI shows, and where the HTML is."""
    model = model or ModelContext()
    options = options or ReportOptions()
    thresholds = options.thresholds or ReportThresholds()
    watch = Stopwatch()
    with ReportQueries(root, day, options.window_days, model.training_counts, strong_probability=thresholds.strong_probability) as queries:
        root.fs.makedirs(root.reports_dir(day), exist_ok=True)
        if queries.day_rows == 0:
            return _empty_day_report(root, day, model.version)
        night = query_night(queries, day, model, options, thresholds)
        watch.lap("queries")
        read_night_texts(root, day, queries, night, model, options, thresholds, watch)
    # The closed connection goes now: a failed write's traceback would keep it alive until
    # the interpreter exits, where DuckDB's bindings print ~40 lines of "leaked" warnings.
    del queries
    summary = night_summary(root, day, night, model, options, thresholds)
    charts = report_charts(summary, night.histogram, options.window_days)
    watch.lap("charts")
    report_html = root.uri(root.report_file(day, "report.html"))
    pages = {"report.html": render_html(summary, charts).encode(), "report.md": render_markdown(summary, {name: name for name in charts}).encode()}
    summary["timings_seconds"] = {**watch.timings, "render": watch.since_last_lap()}
    write_report_files(root, day, {**charts, **pages}, summary)
    return {**summary, "tables": ui_tables(summary), "charts": charts, "report_html": report_html}


def query_night(queries: ReportQueries, day: dt.date, model: ModelContext, options: ReportOptions, thresholds: ReportThresholds) -> Night:
    """The report's queries, each turned into its section."""
    classes = queries.classes
    distribution, other_labels = sections.class_distribution(queries.run("class_distribution"), classes)
    drift, histograms = sections.drift(distribution, queries.run("probability_histograms"), classes, model)
    return Night(
        day_rows=queries.day_rows,
        classes=classes,
        has_stars=queries.has_stars,
        skipped=queries.skipped,
        stars=sections.star_view(queries.run("star_view")) if queries.has_stars else [],
        distribution=distribution,
        other_labels=other_labels,
        trend=sections.trend(queries.run("sentiment_trend"), classes),
        products=queries.run("top_negative_products", min_support=options.min_support, limit=options.top_products),
        histogram=queries.run("confidence_histogram", low_confidence=thresholds.low_confidence),
        live=sections.live_quality(queries.run("live_quality"), day, classes),
        drift=drift,
        histograms=histograms,
        ratings=queries.run("rating_distribution"),
    )


def read_night_texts(root: DataRoot, day: dt.date, queries: ReportQueries, night: Night, model: ModelContext, options: ReportOptions, thresholds: ReportThresholds, watch: Stopwatch) -> None:
    """The sections that need the review texts: input health, text drift, explanations."""
    worst = sections.worst_reviews(queries, night.products[:3], thresholds)
    measurable = model.vocabulary is not None and model.max_length is not None
    stats = monitoring.InputStatsAccumulator(model.vocabulary, model.max_length, thresholds.short_review_tokens) if measurable else None
    # One streaming pass: a 1M-review day's texts held at once cost ~500 MB more.
    day_sample, worst_texts = scan_day_texts(root, day, thresholds.text_sample_rows, {row["review_id"] for row in worst}, stats)
    reference_texts = read_window_texts(root, day, options.window_days, thresholds.text_sample_rows, night.skipped)
    watch.lap("read texts and input statistics")
    night.health = sections.input_health(stats, reference_texts, model, thresholds)
    watch.lap("input health")
    night.text = monitoring.text_drift(day_sample.to_pylist(), reference_texts.to_pylist())
    watch.lap("text drift")
    reviews = [{**row, "text": worst_texts.get(row["review_id"])} for row in worst]
    night.explanations = sections.explanations(reviews, night.products[:3], night.classes, model, thresholds)
    watch.lap("explanations")


def night_summary(root: DataRoot, day: dt.date, night: Night, model: ModelContext, options: ReportOptions, thresholds: ReportThresholds) -> dict[str, Any]:
    """summary.json: every section, and the signals and incidents the monitor finds."""
    classes, window_days, health = night.classes, options.window_days, night.health or {}
    today = night.trend[-1] if night.trend and night.trend[-1]["day"] == day.isoformat() else None
    strong = {
        "rule": (
            "predicted 1 star / 5 stars (the model's own classes)" if night.has_stars else f"p({classes[0]}) >= {thresholds.strong_probability} / p({classes[-1]}) >= {thresholds.strong_probability}"
        ),
        "strongly_negative_share": today["strongly_negative_share"] if today else None,
        "strongly_positive_share": today["strongly_positive_share"] if today else None,
    }
    measures = sections.measures(root, day, window_days, night.distribution, night.histograms, night.ratings, health, model)
    night_signals = signals.assess(*measures, classes, thresholds, f"trailing {window_days} days", night.text, night.live, model.test_metrics)
    return {
        "date": day.isoformat(),
        "reviews": int(night.day_rows),
        "window_days": window_days,
        "model_version": model.version,
        "classes": list(classes),
        "class_distribution": night.distribution,
        "other_labels": night.other_labels,
        "drift": night.drift,
        "probability_histograms": night.histograms,
        "strong_sentiment": strong,
        "star_view": night.stars,
        "low_confidence_share": float(sum(row["share"] for row in night.histogram if row["low_confidence"])),
        "low_confidence_threshold": thresholds.low_confidence,
        "live_quality": night.live,
        "model_test_quality": sections.model_test_quality(model.test_metrics, classes),
        "input_health": health,
        "text_drift": night.text,
        "explanations": night.explanations,
        "top_negative_products": night.products,
        "trend": night.trend,
        "min_support": options.min_support,
        "thresholds": thresholds.model_dump(),
        "signals": night_signals,
        "incidents": incidents.open_incidents(day, night_signals, sections.previous_incidents(root, day), thresholds),
        "skipped_files": night.skipped,
    }


def ui_tables(summary: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The tables the UI shows beside the report."""
    return {
        "incidents": [{k: i[k] for k in ("severity", "status", "age_nights", "title", "message")} for i in summary["incidents"]],
        "class_distribution": summary["class_distribution"],
        "top_negative_products": summary["top_negative_products"],
        "live_quality_per_class": summary["live_quality"].get("per_class") or [],
        "input_health": summary["input_health"]["rows"],
        "signals": signal_rows(summary["signals"]),
    }


def _empty_day_report(root: DataRoot, day: dt.date, model_version: str | None) -> dict[str, Any]:
    """A report that says plainly that nothing was scored for ``day`` (the nightly flow
    decides whether an empty night is a failure)."""
    message = f"no reviews for {day.isoformat()}"
    summary = {"date": day.isoformat(), "reviews": 0, "message": message, "model_version": model_version, "signals": [], "incidents": []}
    note = f"<h1>Review sentiment, {day}</h1><p>No reviews for {day}: nothing was scored.</p>"
    html = f"<!doctype html><html><head><meta charset='utf-8'><title>{day}</title></head><body>{note}</body></html>"
    markdown = f"# Review sentiment, {day}\n\nNo reviews for {day}: nothing was scored.\n"
    write_report_files(root, day, {"report.html": html.encode(), "report.md": markdown.encode()}, summary)
    return {**summary, "tables": {}, "report_html": root.uri(root.report_file(day, "report.html"))}


def write_report_files(root: DataRoot, day: dt.date, files: dict[str, bytes], summary: dict[str, Any]) -> None:
    """The day's report files as one set: all written to temp names, then renamed in, with
    summary.json last; a write that fails (a full disk) leaves the previous report whole."""
    payload = orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    named = {root.report_file(day, name): data for name, data in files.items()}
    root.write_files_atomic({**named, root.report_file(day, "summary.json"): payload}, kept=f"the previous report of {day.isoformat()} stays as it was")
