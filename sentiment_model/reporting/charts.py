"""The report's charts: one PNG per question, from the summary (matplotlib, Agg)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from sentiment_model.reporting import monitoring

# --- charts --------------------------------------------------------------------------------
_COLORS = ("#d62728", "#ff7f0e", "#7f7f7f", "#17becf", "#2ca02c")


def _class_colors(classes: Sequence[str]) -> list[str]:
    if len(classes) == 3:
        return ["#d62728", "#7f7f7f", "#2ca02c"]
    return [_COLORS[i % len(_COLORS)] for i in range(len(classes))]


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def report_charts(summary: dict[str, Any], histogram: list[dict], window_days: int) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = summary["classes"]
    colors = _class_colors(classes)
    trailing_name = f"trailing {window_days} days"
    charts: dict[str, bytes] = {}

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    rows = [r for r in summary["class_distribution"] if r["label"] in classes]
    x = np.arange(len(rows))
    for offset, (key, name) in enumerate((("day_share", summary["date"]), ("trailing_share", trailing_name), ("training_share", "training data"))):
        ax.bar(x + (offset - 1) * 0.27, [row[key] or 0 for row in rows], width=0.27, label=name)
    ax.set_xticks(x, [r["label"] for r in rows])
    ax.set_ylabel("share of reviews")
    ax.set_title("Predicted class distribution")
    ax.legend(fontsize=8)
    charts["class_distribution.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    trend = summary["trend"]
    if trend:
        days = [dt.date.fromisoformat(row["day"]) for row in trend]
        for label, color in zip(classes, colors, strict=True):
            ax.plot(days, [row["shares"].get(label, 0.0) for row in trend], marker="o", color=color, label=label)
        ax.plot(days, [row["strongly_negative_share"] for row in trend], linestyle="--", color=colors[0], label="strongly negative")
        ax.plot(days, [row["strongly_positive_share"] for row in trend], linestyle="--", color=colors[-1], label="strongly positive")
        ax.legend(fontsize=7, ncol=2)
        fig.autofmt_xdate()
    ax.set_ylabel("share of the day's reviews")
    ax.set_title("Sentiment trend")
    charts["sentiment_trend.png"] = _png(fig)

    hists = summary["probability_histograms"]
    fig, axes = plt.subplots(1, len(classes), figsize=(2.2 * len(classes) + 0.6, 2.8), sharey=True)
    centers = (np.arange(monitoring.PROBABILITY_BINS) + 0.5) / monitoring.PROBABILITY_BINS
    for ax, label in zip(np.atleast_1d(axes), classes, strict=True):
        for period, style in (("day", "-"), ("trailing", "--"), ("training", ":")):
            counts = (hists.get(period) or {}).get(label)
            if counts and sum(counts):
                ax.plot(centers, np.asarray(counts) / sum(counts), style, marker=".", label=period)
        ax.set_title(f"p({label})", fontsize=9)
        ax.set_xlabel("probability", fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("share of reviews")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle("Predicted probability distributions", fontsize=10)
    charts["probability_histograms.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    quality_trend = summary["live_quality"].get("trend") or []
    if quality_trend:
        days = [dt.date.fromisoformat(row["day"]) for row in quality_trend]
        for label, color in zip(classes, colors, strict=True):
            ax.plot(days, [np.nan if row["f1"].get(label) is None else row["f1"][label] for row in quality_trend], marker="o", color=color, label=f"F1 {label}")
        ax.plot(days, [row["macro_f1"] for row in quality_trend], color="black", linewidth=2, label="macro-F1")
        ax.legend(fontsize=7, ncol=2)
        ax.set_ylim(0, 1)
        fig.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "no star ratings in the window", ha="center", va="center")
    ax.set_title("Live quality against star ratings")
    charts["live_quality_trend.png"] = _png(fig)

    health = summary["input_health"]
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    edges = monitoring.LENGTH_EDGES
    names = [f"{a}-{b - 1}" if b - a > 1 else str(a) for a, b in zip(edges, edges[1:], strict=False)] + [f"{edges[-1]}+"]
    x = np.arange(len(names))
    for offset, (period, name) in enumerate((("day", summary["date"]), ("trailing", trailing_name), ("training", "training data"))):
        stats = health.get(period)
        if stats and stats.get("length_histogram"):
            counts = np.asarray(stats["length_histogram"], dtype=float)
            ax.bar(x + (offset - 1) * 0.27, counts / counts.sum(), width=0.27, label=name)
    ax.set_xticks(x, names, rotation=45, fontsize=7)
    ax.set_xlabel("tokens per review")
    ax.set_ylabel("share of reviews")
    ax.set_title("Review length")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    charts["length_distribution.png"] = _png(fig)

    drift = summary["text_drift"]
    if drift:
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        tokens = drift["day_tokens"][:10][::-1] + drift["reference_tokens"][:10][::-1]
        ax.barh([t["token"] for t in tokens], [t["weight"] for t in tokens], color=["#1f77b4" if t["weight"] > 0 else "#aaaaaa" for t in tokens])
        ax.set_xlabel("domain-classifier weight (> 0: today, < 0: reference window)")
        ax.set_title(f"Tokens that separate today from the reference (AUC {drift['auc']:.2f})", fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
        charts["text_drift_tokens.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    if histogram:
        ax.bar(
            [row["bin_start"] for row in histogram], [row["reviews"] for row in histogram], width=0.045, align="edge", color=["#ff7f0e" if row["low_confidence"] else "#1f77b4" for row in histogram]
        )
    ax.set_xlabel("confidence (top class probability); orange = low")
    ax.set_ylabel("reviews")
    ax.set_title("Confidence")
    charts["confidence_histogram.png"] = _png(fig)

    confusion = summary["live_quality"].get("confusion_matrix")
    if confusion:
        charts["live_confusion_matrix.png"] = _confusion_png(np.asarray(confusion), classes, f"Predicted vs stars, {summary['date']}")
    return charts


def _confusion_png(counts: np.ndarray, classes: Sequence[str], title: str) -> bytes:
    import matplotlib.pyplot as plt

    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.4, 3.8))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (stars)")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(j, i, f"{counts[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center", color="white" if shares[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(title, fontsize=10)
    return _png(fig)
