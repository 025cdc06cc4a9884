"""The report's parts, each computed from query rows, the model context and the thresholds:
class shares, drift, live quality, the trend, the reviews to explain and their
explanations, the star view, input health, the model's test quality, and what the monitor
compares (the night, the trailing window, the training data; earlier incidents)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import ReportThresholds
from sentiment_model.reporting import incidents, monitoring, signals
from sentiment_model.reporting.context import ModelContext
from sentiment_model.reporting.queries import ReportQueries


def class_distribution(rows: list[dict[str, Any]], classes: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The model's classes in order with shares among them; labels outside the classes
    (e.g. ``empty_text``) are counted separately and kept out of the shares."""
    by_label = {row["label"]: row for row in rows}
    ordered = [by_label.get(label, {"label": label, "day_count": 0, "trailing_count": 0, "training_count": 0}) for label in classes]
    totals = {key: sum(row[key] for row in ordered) for key in ("day_count", "trailing_count", "training_count")}
    out = []
    for row in ordered:
        out.append(
            {
                "label": row["label"],
                "day_count": int(row["day_count"]),
                "day_share": row["day_count"] / totals["day_count"] if totals["day_count"] else 0.0,
                "trailing_count": int(row["trailing_count"]),
                "trailing_share": row["trailing_count"] / totals["trailing_count"] if totals["trailing_count"] else None,
                "training_count": int(row["training_count"]),
                "training_share": row["training_count"] / totals["training_count"] if totals["training_count"] else None,
            }
        )
    other = {row["label"]: int(row["day_count"]) for row in rows if row["label"] not in classes and row["day_count"]}
    return out, other


def drift(distribution: list[dict[str, Any]], hist_rows: list[dict[str, Any]], classes: Sequence[str], model: ModelContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Effect sizes (PSI, JS distance) of the class shares and of each class's probability
    histogram, against the trailing window and the training data; a reason where a
    reference is missing."""
    day_counts = [row["day_count"] for row in distribution]
    histograms: dict[str, dict[str, list[int]]] = {"day": {}, "trailing": {}}
    for row in hist_rows:
        histograms[row["period"]].setdefault(row["class"][2:], [0] * monitoring.PROBABILITY_BINS)[int(row["bin"])] = int(row["reviews"])
    histograms["training"] = (model.training_reference or {}).get("probability_histograms") or {}
    drift: dict[str, Any] = {"class_shares": {}, "probabilities": {}, "unavailable": {}}
    for reference, key in (("trailing", "trailing_count"), ("training", "training_count")):
        drift["class_shares"][reference] = monitoring.distribution_drift(day_counts, [row[key] for row in distribution])
        drift["probabilities"][reference] = {
            label: measured for label in classes if (measured := monitoring.distribution_drift(histograms["day"].get(label, []) or [0], histograms[reference].get(label)))
        } or None
    if model.training_counts is None:
        drift["unavailable"]["class_shares_vs_training"] = "the model has no training class counts (no fingerprint, e.g. a model folder outside the registry)"
    if not histograms["training"]:
        drift["unavailable"]["probabilities_vs_training"] = "the model's fingerprint has no probability histograms (input_reference)"
    if drift["class_shares"]["trailing"] is None:
        drift["unavailable"]["vs_trailing"] = "no scored reviews in the trailing window"
    return drift, histograms


def live_quality(rows: list[dict[str, Any]], day: dt.date, classes: Sequence[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1 against the stars for the day, and F1 per day over the
    window (the trend)."""
    index = {label: i for i, label in enumerate(classes)}
    by_day: dict[dt.date, np.ndarray] = {}
    for row in rows:
        if row["predicted_label"] not in index:  # e.g. empty_text: not a class decision
            continue
        matrix = by_day.setdefault(row["day"], np.zeros((len(classes), len(classes)), dtype=np.int64))
        matrix[index[row["true_label"]], index[row["predicted_label"]]] += row["reviews"]
    trend = []
    for when in sorted(by_day):
        quality = monitoring.per_class_quality(by_day[when], classes)
        trend.append(
            {
                "day": when.isoformat(),
                "rated_reviews": int(by_day[when].sum()),
                "macro_f1": monitoring.macro_f1_present(quality),
                "f1": {q["class"]: q["f1"] if q["support"] else None for q in quality},
            }
        )
    confusion = by_day.get(day)
    return {**monitoring.live_quality(confusion if confusion is not None else np.zeros((len(classes), len(classes))), classes), "trend": trend}


def trend(rows: list[dict[str, Any]], classes: Sequence[str]) -> list[dict[str, Any]]:
    days: dict[dt.date, dict[str, Any]] = {}
    for row in rows:
        entry = days.setdefault(row["day"], {"reviews": 0, "counts": {}, "strongly_negative": 0, "strongly_positive": 0, "confidence_sum": 0.0})
        entry["reviews"] += row["reviews"]
        entry["counts"][row["label"]] = int(row["reviews"])
        entry["strongly_negative"] += row["strongly_negative"]
        entry["strongly_positive"] += row["strongly_positive"]
        entry["confidence_sum"] += row["confidence_sum"] or 0.0
    out = []
    for when in sorted(days):
        entry = days[when]
        decided = sum(entry["counts"].get(label, 0) for label in classes)
        out.append(
            {
                "day": when.isoformat(),
                "reviews": entry["reviews"],
                **{label: entry["counts"].get(label, 0) for label in classes},
                "shares": {label: entry["counts"].get(label, 0) / decided if decided else 0.0 for label in classes},
                "strongly_negative_share": entry["strongly_negative"] / entry["reviews"],
                "strongly_positive_share": entry["strongly_positive"] / entry["reviews"],
                "mean_confidence": entry["confidence_sum"] / entry["reviews"],
            }
        )
    return out


def worst_reviews(queries: ReportQueries, products: list[dict[str, Any]], thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """The day's most negative reviews of the most negative products (texts added later)."""
    if not products or thresholds.explain_reviews == 0:
        return []
    queries.register("worst_products", pa.table({"product_id": pa.array([p["product_id"] for p in products], pa.string())}))
    return queries.run("worst_reviews", limit=thresholds.explain_reviews)


def explanations(reviews: list[dict[str, Any]], products: list[dict[str, Any]], classes: Sequence[str], model: ModelContext, thresholds: ReportThresholds) -> dict[str, Any]:
    """Attention tokens (from scoring) beside LIME's words for the worst reviews, with the
    seconds each LIME explanation cost."""
    if not products or thresholds.explain_reviews == 0:
        return {"reviews": [], "note": "no negative products today" if not products else "explanations turned off (explain_reviews = 0)"}
    explainable = [r for r in reviews if r["text"] is not None]
    note = ""
    if model.predict_proba is None:
        note = "LIME unavailable: the model could not be loaded for the report"
    elif explainable:
        lime = monitoring.lime_explanations(model.predict_proba, [r["text"] for r in explainable], classes, 0, thresholds.lime_samples, seed=0)
        for review, explanation in zip(explainable, lime, strict=True):
            review["lime"] = explanation["weights"]
            review["lime_seconds"] = explanation["seconds"]
    seconds = [r["lime_seconds"] for r in reviews if "lime_seconds" in r]
    return {
        "reviews": [{**r, "top_tokens": list(r["top_tokens"] or []), "text": (r["text"] or "")[:400]} for r in reviews],
        "explained_class": classes[0],
        "lime_samples": thresholds.lime_samples,
        "seconds_per_explanation": float(np.mean(seconds)) if seconds else None,
        "note": note,
    }


def measures(
    root: DataRoot, day: dt.date, window_days: int, distribution: list[dict[str, Any]], histograms: dict[str, Any], ratings: list[dict[str, Any]], health: dict[str, Any], model: ModelContext
) -> tuple[signals.Measures, signals.Measures | None, signals.Measures | None]:
    """The night, the trailing window and the training data as the monitor reads them."""
    stars: dict[str, dict[int, int]] = {"day": {}, "trailing": {}}
    for row in ratings:
        stars[row["period"]][int(row["rating"])] = int(row["reviews"])
    windows = {"day": [day], "trailing": [day - dt.timedelta(days=i) for i in range(1, window_days + 1)]}

    def period(name: str) -> signals.Measures:
        rows, duplicates = manifest_counts(root, windows[name])
        return signals.Measures(
            class_counts={row["label"]: row[f"{name}_count"] for row in distribution},
            probability_histograms=histograms[name],
            rating_counts=stars[name] or None,
            input=health.get(name),
            rows=rows,
            duplicates=duplicates,
        )

    night = period("day")
    trailing = period("trailing") if sum(row["trailing_count"] for row in distribution) else None
    reference = model.training_reference or {}
    # The night's predictions are compared with the model's predictions on held-out data,
    # never with the true labels' shares (a model does not reproduce those exactly).
    training = signals.Measures(class_counts=reference.get("predicted_class_counts"), probability_histograms=histograms["training"] or None, input=health.get("training"))
    return night, trailing, (training if training.class_counts or training.probability_histograms or training.input else None)


def manifest_counts(root: DataRoot, days: list[dt.date]) -> tuple[int | None, int | None]:
    """Reviews read (before duplicates were dropped) and duplicates over the days' scored
    manifests; (None, None) when none of the days was published."""
    rows = duplicates = 0
    found = False
    for day in days:
        path = root.scored_manifest(day)
        try:
            manifest = root.read_json(path) if root.exists(path) else None
        except (OSError, ValueError):
            manifest = None
        if manifest:
            found = True
            rows += int(manifest.get("rows", 0)) + int(manifest.get("duplicates", 0))
            duplicates += int(manifest.get("duplicates", 0))
    return (rows, duplicates) if found else (None, None)


def previous_incidents(root: DataRoot, day: dt.date) -> list[dict[str, Any]]:
    """The incidents open on the nights before ``day`` (``incidents.carried``): a quieter
    night in between (77 reviews cannot show what 3,949 do) does not end an incident."""
    earlier = []
    for back in range(1, incidents.CONTINUE_WITHIN_DAYS + 1):
        path = root.report_file(day - dt.timedelta(days=back), "summary.json")
        try:
            summary = root.read_json(path) if root.exists(path) else None
        except (OSError, ValueError):  # an unreadable old summary continues nothing
            summary = None
        earlier.append((summary or {}).get("incidents") or [])
    return incidents.carried(earlier)


def star_view(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per star: the share of the day's reviews the model put there, the share the
    reviewers gave (among rated reviews), and the model's recall of that star."""
    predicted, rated = sum(r["predicted"] for r in rows), sum(r["rated"] for r in rows)
    return [
        {
            "stars": r["stars"],
            "predicted": r["predicted"],
            "predicted_share": r["predicted"] / predicted if predicted else None,
            "rated": r["rated"],
            "rated_share": r["rated"] / rated if rated else None,
            "exact_recall": r["exact"] / r["rated"] if r["rated"] else None,
        }
        for r in rows
    ]


def input_health(day_stats: monitoring.InputStatsAccumulator | None, reference_texts: pa.Array, model: ModelContext, thresholds: ReportThresholds) -> dict[str, Any]:
    if day_stats is None or model.vocabulary is None or model.max_length is None:
        return {"day": None, "trailing": None, "training": None, "rows": [], "note": "the model's vocabulary is not available: input health not measured"}
    day = day_stats.result()
    trailing = monitoring.input_stats(reference_texts, model.vocabulary, model.max_length, thresholds.short_review_tokens) if len(reference_texts) else None
    training = (model.training_reference or {}).get("input")
    note = "" if training else "no training reference in the model's fingerprint (input_reference): compared with the trailing window only"
    return {"day": day, "trailing": trailing, "training": training, "rows": monitoring.input_health_rows(day, {"trailing": trailing, "training": training}), "note": note}


def model_test_quality(metrics: dict[str, Any] | None, classes: Sequence[str]) -> list[dict[str, Any]]:
    if not metrics or "per_class" not in metrics:
        return []
    return [{"class": c, **{k: metrics["per_class"][c].get(k) for k in ("precision", "recall", "f1")}} for c in classes if c in metrics["per_class"]]
