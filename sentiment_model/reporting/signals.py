"""The monitor's signals: every statistic the nightly report watches, each with its value,
its threshold and its chance level at the night's size, and whether it fired (above both).

One signal per statistic and reference; each belongs to one *kind* of change, and
``incidents.py`` turns a night's fired signals of one kind into one incident. Pure
functions over counts (the report and the replay benchmark build the :class:`Measures`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentiment_model.core.settings import ReportThresholds
from sentiment_model.reporting import chance
from sentiment_model.reporting.monitoring import LANGUAGE_SAMPLE

#: What each kind of change means, in the words an incident leads with.
KINDS: dict[str, str] = {
    "predictions": "the model's predictions shifted",
    "ratings": "the star ratings shifted",
    "input": "the reviews look different to the model",
    "quality": "the model disagrees with the stars more than on its test split",
    "duplicates": "reviews arrive more than once",
}
#: Input-health measures: their threshold field and the sample each share is measured on.
INPUT_MEASURES: dict[str, str] = {
    "oov_share": "oov_share_increase",
    "truncated_share": "truncated_share_increase",
    "short_share": "short_share_increase",
    "non_english_share": "non_english_share_increase",
}
STARS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Measures:
    """One side of a comparison: a night, the trailing window or the training data. A field
    left None was not measured there, and its signals are skipped."""

    class_counts: Mapping[str, int] | None = None  # predicted classes
    probability_histograms: Mapping[str, Sequence[int]] | None = None  # per class, equal bins of [0, 1]
    rating_counts: Mapping[int, int] | None = None  # stars of the rated reviews
    input: Mapping[str, Any] | None = None  # monitoring.InputStatsAccumulator.result()
    rows: int | None = None  # reviews before duplicates were dropped
    duplicates: int | None = None


def _signal(kind: str, measure: str, reference: str, value: float, threshold: float, chance_level: float | None, detail: str = "") -> dict[str, Any]:
    fired = value >= threshold and (chance_level is None or value > chance_level)
    level = "n/a" if chance_level is None else f"{chance_level:.3f}"
    message = f"{measure} vs {reference}: {value:.3f}{detail} (threshold {threshold:g}, chance {level})"
    return {
        "kind": kind,
        "measure": measure,
        "reference": reference,
        "value": float(value),
        "threshold": float(threshold),
        "chance_level": None if chance_level is None else float(chance_level),
        "fired": bool(fired),
        "ratio": float(value / threshold),
        "message": message,
    }


def _vector(counts: Mapping[Any, int], keys: Sequence[Any]) -> np.ndarray:
    return np.asarray([counts.get(key, 0) for key in keys], dtype=float)


def _mix_signals(kind: str, what: str, day: np.ndarray, reference: np.ndarray, reference_name: str, names: Sequence[str], thresholds: ReportThresholds, with_shares: bool) -> list[dict[str, Any]]:
    """PSI and JS distance of two count vectors (and the largest share change when the
    categories are few enough to name), each with its chance level."""
    if day.sum() <= 0 or reference.sum() <= 0:
        return []
    levels = chance.distribution_chance(int(day.sum()), reference, thresholds.chance_quantile)
    out = [
        _signal(kind, f"{what}: PSI", reference_name, chance.psi(day, reference)[0], thresholds.psi, levels.get("psi")),
        _signal(kind, f"{what}: JS distance", reference_name, chance.js(day, reference)[0], thresholds.js_distance, levels.get("js_distance")),
    ]
    if with_shares:
        # Each category against its own chance level (chance moves a 15% share less than a
        # 78% one): the one closest to firing speaks for the mix.
        day_shares, reference_shares = day / day.sum(), reference / reference.sum()
        change = np.abs(day_shares - reference_shares)
        levels_by_category = levels["share_z"] * chance.share_sd(day, reference)[0]
        moved = int(np.argmax(np.minimum(change / thresholds.share_change, change / np.maximum(levels_by_category, 1e-9))))
        detail = f" ({names[moved]} {day_shares[moved]:.1%} vs {reference_shares[moved]:.1%})"
        out.append(_signal(kind, f"{what}: share change", reference_name, change[moved], thresholds.share_change, levels_by_category[moved], detail))
    return out


def prediction_signals(day: Measures, references: Mapping[str, Measures], classes: Sequence[str], thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """Class shares and each class's probability histogram against every reference."""
    out: list[dict[str, Any]] = []
    for name, reference in references.items():
        if day.class_counts and reference.class_counts:
            out += _mix_signals("predictions", "class shares", _vector(day.class_counts, classes), _vector(reference.class_counts, classes), name, classes, thresholds, True)
        for label in classes:
            today = (day.probability_histograms or {}).get(label)
            before = (reference.probability_histograms or {}).get(label)
            if today and before:
                out += _mix_signals("predictions", f"p({label}) histogram", np.asarray(today, float), np.asarray(before, float), name, [], thresholds, False)
    return out


def rating_signals(day: Measures, references: Mapping[str, Measures], thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """The stars' mix against every reference that has stars (a rating pipeline bug)."""
    out: list[dict[str, Any]] = []
    names = [f"{star} stars" for star in STARS]
    for name, reference in references.items():
        if day.rating_counts and reference.rating_counts:
            out += _mix_signals("ratings", "star ratings", _vector(day.rating_counts, STARS), _vector(reference.rating_counts, STARS), name, names, thresholds, True)
    return out


def _input_size(stats: Mapping[str, Any], measure: str) -> int:
    """Reviews a share is measured on; a share of tokens counts reviews, not tokens (tokens
    of one review are not independent draws, so this errs towards a higher chance level)."""
    if measure == "non_english_share":
        return int(stats.get("language_sample") or min(stats.get("reviews", 0), LANGUAGE_SAMPLE))
    return int(stats.get("reviews", 0))


def input_signals(
    day: Measures, reference: Measures | None, reference_name: str, thresholds: ReportThresholds, text_drift: Mapping[str, Any] | None = None, text_reference: str = "trailing window"
) -> list[dict[str, Any]]:
    """Rises of the input-health shares against one reference, and the text domain
    classifier's AUC against the trailing window."""
    out: list[dict[str, Any]] = []
    if day.input and day.input.get("reviews") and reference is not None and reference.input:
        for measure, field in INPUT_MEASURES.items():
            today, before = day.input.get(measure), reference.input.get(measure)
            if today is None or before is None:
                continue
            level = chance.share_chance(_input_size(day.input, measure), before, _input_size(reference.input, measure), thresholds.chance_quantile)
            out.append(_signal("input", measure, reference_name, today - before, getattr(thresholds, field), level, f" ({today:.1%} vs {before:.1%})"))
    if text_drift:
        n = int(text_drift["reviews_per_side"])
        tokens = ", ".join(t["token"] for t in text_drift.get("day_tokens", [])[:5])
        out.append(
            _signal(
                "input",
                "text: domain classifier AUC",
                text_reference,
                text_drift["auc"],
                thresholds.text_drift_auc,
                chance.auc_chance(n, n, thresholds.chance_quantile),
                f" (today's tokens: {tokens})",
            )
        )
    return out


def duplicate_signals(day: Measures, trailing: Measures | None, thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """The share of the night's reviews that repeat one already in the night."""
    if not day.rows or day.duplicates is None:
        return []
    today = day.duplicates / day.rows
    known = trailing is not None and bool(trailing.rows) and trailing.duplicates is not None
    before = trailing.duplicates / trailing.rows if known else 0.0
    level = chance.share_chance(day.rows, before, trailing.rows, thresholds.chance_quantile) if known else None
    return [_signal("duplicates", "duplicate share", "trailing window" if known else "none expected", today - before, thresholds.duplicate_share_increase, level, f" ({today:.1%} vs {before:.1%})")]


def quality_signals(live: Mapping[str, Any], test_metrics: Mapping[str, Any] | None, classes: Sequence[str], thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """Live F1 against the stars below the test split's by more than ``f1_drop`` and by
    more than chance at the night's per-class support: per class with enough rated
    reviews, and macro when every class has enough."""
    per_class = live.get("per_class") or []
    if not test_metrics or not per_class or "confusion_matrix" not in test_metrics:
        return []
    support = [row["support"] for row in per_class]
    levels = chance.f1_chance(test_metrics["confusion_matrix"], support, thresholds.chance_quantile)
    out = []
    judged = [i for i, row in enumerate(per_class) if row["support"] >= thresholds.min_rated_per_class]
    for i in judged:
        row = per_class[i]
        test_f1 = ((test_metrics.get("per_class") or {}).get(row["class"]) or {}).get("f1")
        if test_f1 is not None:
            level = None if levels is None else test_f1 - levels["per_class"][i]
            out.append(_signal("quality", f"F1 {row['class']} drop", "test split", test_f1 - row["f1"], thresholds.f1_drop, level, f" (live {row['f1']:.3f} vs test {test_f1:.3f})"))
    test_macro = test_metrics.get("macro_f1")
    if len(judged) == len(per_class) and test_macro is not None and live.get("macro_f1") is not None:
        level = None if levels is None else test_macro - levels["macro"]
        out.append(_signal("quality", "macro-F1 drop", "test split", test_macro - live["macro_f1"], thresholds.f1_drop, level, f" (live {live['macro_f1']:.3f} vs test {test_macro:.3f})"))
    return out


def assess(
    day: Measures,
    trailing: Measures | None,
    training: Measures | None,
    classes: Sequence[str],
    thresholds: ReportThresholds,
    trailing_name: str = "trailing window",
    text_drift: Mapping[str, Any] | None = None,
    live: Mapping[str, Any] | None = None,
    test_metrics: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every signal of a night, fired or not, in a fixed order."""
    references = {name: m for name, m in ((trailing_name, trailing), ("training", training)) if m is not None}
    health_name, health = ("training", training) if training is not None and training.input else (trailing_name, trailing)
    return (
        prediction_signals(day, references, classes, thresholds)
        + rating_signals(day, references, thresholds)
        + input_signals(day, health, health_name, thresholds, text_drift, trailing_name)
        + duplicate_signals(day, trailing, thresholds)
        + quality_signals(live or {}, test_metrics, classes, thresholds)
    )
