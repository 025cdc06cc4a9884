"""Each chart is one function of the summary; a chart with nothing to show is left out."""

from __future__ import annotations

import pytest

from sentiment_model.reporting import charts, monitoring

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = ["negative", "neutral", "positive"]


def _summary(with_stars: bool, with_drift: bool) -> dict:
    shares = {"negative": 0.2, "neutral": 0.1, "positive": 0.7}
    lengths = [1] * (len(monitoring.LENGTH_EDGES))
    histograms = {label: [1] * monitoring.PROBABILITY_BINS for label in CLASSES}
    return {
        "date": "2026-03-02",
        "classes": CLASSES,
        "class_distribution": [{"label": label, "day_share": share, "trailing_share": share, "training_share": None} for label, share in shares.items()],
        "trend": [{"day": f"2026-03-0{d}", "shares": shares, "strongly_negative_share": 0.1, "strongly_positive_share": 0.5} for d in (1, 2)],
        "probability_histograms": {"day": histograms, "trailing": histograms, "training": None},
        "live_quality": {
            "trend": [{"day": "2026-03-02", "f1": {"negative": 0.8, "neutral": None, "positive": 0.9}, "macro_f1": 0.85}] if with_stars else [],
            "confusion_matrix": [[5, 1, 0], [1, 2, 1], [0, 1, 9]] if with_stars else None,
        },
        "input_health": {"day": {"length_histogram": lengths}, "trailing": {"length_histogram": lengths}, "training": None},
        "text_drift": {"auc": 0.71, "day_tokens": [{"token": "refund", "weight": 1.2}], "reference_tokens": [{"token": "gift", "weight": -0.8}]} if with_drift else None,
    }


HISTOGRAM = [{"bin_start": 0.35, "reviews": 3, "low_confidence": True}, {"bin_start": 0.9, "reviews": 30, "low_confidence": False}]


@pytest.mark.parametrize("name", list(charts.CHARTS))
def test_every_chart_draws_a_png_from_a_full_summary(name):
    png = charts.CHARTS[name](charts.ChartInput(_summary(with_stars=True, with_drift=True), HISTOGRAM, 7))
    assert png is not None and png.startswith(PNG_MAGIC)


def test_charts_without_data_are_left_out_and_the_rest_still_drawn():
    drawn = charts.report_charts(_summary(with_stars=False, with_drift=False), [], 7)
    assert set(drawn) == set(charts.CHARTS) - {"text_drift_tokens.png", "live_confusion_matrix.png"}
    assert all(png.startswith(PNG_MAGIC) for png in drawn.values())
