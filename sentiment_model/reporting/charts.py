"""The report's charts: one function per chart, each answering one question from the
summary and returning a PNG (matplotlib, Agg); :func:`report_charts` runs them all."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentiment_model.reporting import monitoring

_COLORS = ("#d62728", "#ff7f0e", "#7f7f7f", "#17becf", "#2ca02c")


@dataclass(frozen=True)
class ChartInput:
    """What every chart may read: the night's summary, its confidence histogram and the
    trailing window's length in days."""

    summary: dict[str, Any]
    histogram: list[dict]
    window_days: int

    @property
    def classes(self) -> list[str]:
        return self.summary["classes"]

    @property
    def colors(self) -> list[str]:
        return class_colors(self.classes)

    def periods(self) -> tuple[tuple[str, str], ...]:
        """(summary key, legend name) of the night, the trailing window and training."""
        return (("day", self.summary["date"]), ("trailing", f"trailing {self.window_days} days"), ("training", "training data"))


def class_colors(classes: Sequence[str]) -> list[str]:
    if len(classes) == 3:
        return ["#d62728", "#7f7f7f", "#2ca02c"]
    return [_COLORS[i % len(_COLORS)] for i in range(len(classes))]


#: Room around the plotting area, in inches (left, bottom, right, top): tick labels, an
#: axis label and a title. Fixed margins instead of matplotlib's tight layout, which
#: draws every chart twice (about half of a report's chart time).
MARGINS = (0.75, 0.5, 0.15, 0.35)
DATED_MARGINS = (0.75, 0.75, 0.15, 0.35)  # dates on the x axis, turned 30 degrees


def _figure(width: float, height: float, columns: int = 1, margins: tuple[float, float, float, float] = MARGINS, **options: Any) -> tuple[Any, Any]:
    # A bare Figure, not pyplot: no global figure registry shared between the threads
    # Prefect runs tasks in.
    from matplotlib.figure import Figure

    left, bottom, right, top = margins
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left / width, bottom=bottom / height, right=1 - right / width, top=1 - top / height, wspace=0.12)
    return fig, fig.subplots(1, columns, **options)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def class_distribution(chart: ChartInput) -> bytes:
    """How tonight's predicted classes compare with the trailing window and training."""
    fig, ax = _figure(6.4, 3.2)
    rows = [r for r in chart.summary["class_distribution"] if r["label"] in chart.classes]
    x = np.arange(len(rows))
    keys = ("day_share", "trailing_share", "training_share")
    for offset, (key, (_, name)) in enumerate(zip(keys, chart.periods(), strict=True)):
        ax.bar(x + (offset - 1) * 0.27, [row[key] or 0 for row in rows], width=0.27, label=name)
    ax.set_xticks(x, [r["label"] for r in rows])
    ax.set_ylabel("share of reviews")
    ax.set_title("Predicted class distribution")
    ax.legend(fontsize=8)
    return _png(fig)


def sentiment_trend(chart: ChartInput) -> bytes:
    """Each class's share per night over the window, strong predictions dashed."""
    fig, ax = _figure(6.4, 3.2, margins=DATED_MARGINS)
    trend = chart.summary["trend"]
    if trend:
        days = [dt.date.fromisoformat(row["day"]) for row in trend]
        for label, color in zip(chart.classes, chart.colors, strict=True):
            ax.plot(days, [row["shares"].get(label, 0.0) for row in trend], marker="o", color=color, label=label)
        ax.plot(days, [row["strongly_negative_share"] for row in trend], linestyle="--", color=chart.colors[0], label="strongly negative")
        ax.plot(days, [row["strongly_positive_share"] for row in trend], linestyle="--", color=chart.colors[-1], label="strongly positive")
        ax.legend(fontsize=7, ncol=2)
        ax.tick_params(axis="x", labelrotation=30)
    ax.set_ylabel("share of the day's reviews")
    ax.set_title("Sentiment trend")
    return _png(fig)


def probability_histograms(chart: ChartInput) -> bytes:
    """Each class's predicted-probability distribution: tonight, the window, training."""
    histograms, classes = chart.summary["probability_histograms"], chart.classes
    fig, axes = _figure(2.2 * len(classes) + 0.6, 2.8, len(classes), margins=(0.8, 0.5, 0.1, 0.55), sharey=True)
    axes = np.atleast_1d(axes)
    centers = (np.arange(monitoring.PROBABILITY_BINS) + 0.5) / monitoring.PROBABILITY_BINS
    for ax, label in zip(axes, classes, strict=True):
        for period, style in (("day", "-"), ("trailing", "--"), ("training", ":")):
            counts = (histograms.get(period) or {}).get(label)
            if counts and sum(counts):
                ax.plot(centers, np.asarray(counts) / sum(counts), style, marker=".", label=period)
        ax.set_title(f"p({label})", fontsize=9)
        ax.set_xlabel("probability", fontsize=8)
    axes[0].set_ylabel("share of reviews")
    axes[0].legend(fontsize=7)
    fig.suptitle("Predicted probability distributions", fontsize=10)
    return _png(fig)


def live_quality_trend(chart: ChartInput) -> bytes:
    """Per-class and macro F1 against star ratings, night by night."""
    fig, ax = _figure(6.4, 3.0, margins=DATED_MARGINS)
    quality_trend = chart.summary["live_quality"].get("trend") or []
    if quality_trend:
        days = [dt.date.fromisoformat(row["day"]) for row in quality_trend]
        for label, color in zip(chart.classes, chart.colors, strict=True):
            ax.plot(days, [np.nan if row["f1"].get(label) is None else row["f1"][label] for row in quality_trend], marker="o", color=color, label=f"F1 {label}")
        ax.plot(days, [row["macro_f1"] for row in quality_trend], color="black", linewidth=2, label="macro-F1")
        ax.legend(fontsize=7, ncol=2)
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", labelrotation=30)
    else:
        ax.text(0.5, 0.5, "no star ratings in the window", ha="center", va="center")
    ax.set_title("Live quality against star ratings")
    return _png(fig)


def length_distribution(chart: ChartInput) -> bytes:
    """Tokens per review: tonight against the window and training (input health)."""
    health = chart.summary["input_health"]
    fig, ax = _figure(6.4, 3.0, margins=(0.75, 0.85, 0.15, 0.35))
    edges = monitoring.LENGTH_EDGES
    names = [f"{a}-{b - 1}" if b - a > 1 else str(a) for a, b in zip(edges, edges[1:], strict=False)] + [f"{edges[-1]}+"]
    x = np.arange(len(names))
    for offset, (period, name) in enumerate(chart.periods()):
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
    return _png(fig)


def text_drift_tokens(chart: ChartInput) -> bytes | None:
    """The tokens that tell tonight's text from the reference window (none: no drift check)."""
    drift = chart.summary["text_drift"]
    if not drift:
        return None
    tokens = drift["day_tokens"][:10][::-1] + drift["reference_tokens"][:10][::-1]
    widest = max((len(t["token"]) for t in tokens), default=0)
    fig, ax = _figure(6.4, 3.4, margins=(0.2 + 0.06 * widest, 0.5, 0.15, 0.35))
    ax.barh([t["token"] for t in tokens], [t["weight"] for t in tokens], color=["#1f77b4" if t["weight"] > 0 else "#aaaaaa" for t in tokens])
    ax.set_xlabel("domain-classifier weight (> 0: today, < 0: reference window)")
    ax.set_title(f"Tokens that separate today from the reference (AUC {drift['auc']:.2f})", fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def confidence_histogram(chart: ChartInput) -> bytes:
    """How sure the model was tonight; low-confidence bins in orange."""
    fig, ax = _figure(6.4, 2.8)
    if chart.histogram:
        rows = chart.histogram
        ax.bar([row["bin_start"] for row in rows], [row["reviews"] for row in rows], width=0.045, align="edge", color=["#ff7f0e" if row["low_confidence"] else "#1f77b4" for row in rows])
    ax.set_xlabel("confidence (top class probability); orange = low")
    ax.set_ylabel("reviews")
    ax.set_title("Confidence")
    return _png(fig)


def live_confusion_matrix(chart: ChartInput) -> bytes | None:
    """Predicted class against stars tonight (none: no star ratings)."""
    confusion = chart.summary["live_quality"].get("confusion_matrix")
    if not confusion:
        return None
    return confusion_png(np.asarray(confusion), chart.classes, f"Predicted vs stars, {chart.summary['date']}")


def confusion_png(counts: np.ndarray, classes: Sequence[str], title: str) -> bytes:
    """A confusion matrix as row shares, each cell labelled with its count and share."""
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = _figure(4.4, 3.8, margins=(0.95, 0.55, 0.1, 0.35))
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


# The report's charts in page order, by file name; a chart returning None is left out.
CHARTS: dict[str, Callable[[ChartInput], bytes | None]] = {
    "class_distribution.png": class_distribution,
    "sentiment_trend.png": sentiment_trend,
    "probability_histograms.png": probability_histograms,
    "live_quality_trend.png": live_quality_trend,
    "length_distribution.png": length_distribution,
    "text_drift_tokens.png": text_drift_tokens,
    "confidence_histogram.png": confidence_histogram,
    "live_confusion_matrix.png": live_confusion_matrix,
}


def report_charts(summary: dict[str, Any], histogram: list[dict], window_days: int) -> dict[str, bytes]:
    """Every chart that has something to show, as PNG bytes by file name."""
    chart = ChartInput(summary, histogram, window_days)
    drawn = {name: draw(chart) for name, draw in CHARTS.items()}
    return {name: png for name, png in drawn.items() if png is not None}
