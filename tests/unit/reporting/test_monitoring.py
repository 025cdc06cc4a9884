"""The report's measures on hand-made inputs: effect sizes, input health, text drift,
live quality per class and the alert rules."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from sentiment_model.core.settings import ReportOptions, ReportThresholds, get_settings
from sentiment_model.model.text import Vocabulary
from sentiment_model.reporting import chance, incidents, monitoring, signals


def test_effect_sizes_are_zero_for_equal_distributions_and_grow_with_the_shift():
    base = [100, 50, 850]
    assert monitoring.population_stability_index(base, base) == pytest.approx(0, abs=1e-12)
    assert monitoring.js_distance(base, base) == pytest.approx(0, abs=1e-7)
    small, large = [120, 50, 830], [500, 100, 400]
    assert 0 < monitoring.population_stability_index(small, base) < monitoring.population_stability_index(large, base)
    assert 0 < monitoring.js_distance(small, base) < monitoring.js_distance(large, base) < 1
    assert monitoring.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)


def test_drift_against_an_empty_reference_is_unavailable_not_a_number():
    assert monitoring.distribution_drift([10, 5, 85], [0, 0, 0]) is None
    assert monitoring.distribution_drift([10, 5, 85], None) is None
    assert monitoring.distribution_drift([0, 0, 0], [10, 5, 85]) is None


def test_probability_histogram_puts_one_in_the_last_bin():
    assert monitoring.probability_histogram(np.array([0.0, 0.05, 0.95, 1.0])) == [2, 0, 0, 0, 0, 0, 0, 0, 0, 2]


def test_input_stats_measure_oov_truncation_and_short_reviews():
    vocabulary = Vocabulary(("the", "kettle", "is", "great"))
    texts = ["the kettle is great", "the kettle is zorblax", "", "great", "the kettle is great the kettle is great"]
    stats = monitoring.input_stats(texts, vocabulary, max_length=6, short_tokens=1, language_sample=0)
    assert stats["reviews"] == 5
    assert stats["tokens"] == 4 + 4 + 0 + 1 + 8
    assert stats["oov_share"] == pytest.approx(1 / 17)
    assert stats["truncated_share"] == pytest.approx(1 / 5)
    assert stats["empty_share"] == pytest.approx(1 / 5)
    assert stats["short_share"] == pytest.approx(2 / 5)
    assert sum(stats["length_histogram"]) == 5
    assert stats["non_english_share"] is None


def test_input_stats_in_slices_equal_the_whole_day(monkeypatch):
    """A big day is tokenized a slice at a time (bounded memory): the figures are the same."""
    vocabulary = Vocabulary(("the", "kettle", "is", "great"))
    texts = ["the kettle is great", "the kettle is zorblax", "", "great", "the kettle is great the kettle is great"] * 3
    whole = monitoring.input_stats(texts, vocabulary, max_length=6, short_tokens=1)
    monkeypatch.setattr(monitoring, "INPUT_STATS_SLICE", 4)
    assert monitoring.input_stats(texts, vocabulary, max_length=6, short_tokens=1) == whole
    chunked = pa.chunked_array([texts[:7], texts[7:]])  # one chunk per batch file, as the report reads a day
    assert monitoring.input_stats(chunked, vocabulary, max_length=6, short_tokens=1) == whole


def test_non_english_share_comes_from_the_language_detector():
    vocabulary = Vocabulary(("the",))
    english = ["this kettle is great and it boils water very quickly every morning"] * 6
    french = ["cette bouilloire est vraiment nulle et elle fuit depuis le premier jour"] * 4
    stats = monitoring.input_stats(english + french, vocabulary, max_length=50)
    assert stats["non_english_share"] == pytest.approx(0.4)


def test_training_reference_holds_input_stats_and_probability_histograms():
    vocabulary = Vocabulary(("good", "bad"))
    probabilities = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])
    reference = monitoring.training_reference(["good", "bad thing"], vocabulary, 10, probabilities, ("negative", "neutral", "positive"))
    assert reference["input"]["oov_share"] == pytest.approx(1 / 3)
    assert reference["probability_histograms"]["negative"][9] == 1 and sum(reference["probability_histograms"]["positive"]) == 2


def test_text_drift_scores_a_new_topic_and_names_its_tokens():
    rng = np.random.default_rng(0)
    words = ["kettle", "boils", "fast", "water", "good", "handle", "lid", "steam", "works", "fine"]
    reference = [" ".join(rng.choice(words, 8)) for _ in range(300)]
    day = [" ".join(rng.choice(words, 6)) + " battery recall fire" for _ in range(300)]
    drift = monitoring.text_drift(day, reference)
    assert drift["auc"] > 0.95
    assert {"battery", "recall", "fire"} <= {t["token"] for t in drift["day_tokens"][:5]}
    same = monitoring.text_drift(reference[:150], reference[150:])
    assert same["auc"] < 0.7
    assert monitoring.text_drift(day[:5], reference) is None


def test_lime_names_the_words_that_move_the_explained_class():
    def predict_proba(texts: list[str]) -> np.ndarray:  # "terrible" makes a review negative, "refund" a little
        negative = np.array([0.1 + 0.7 * ("terrible" in t.split()) + 0.1 * ("refund" in t.split()) for t in texts])
        return np.stack([negative, (1 - negative) / 2, (1 - negative) / 2], axis=1)

    text = "Great sound, but the battery died and I asked for a refund. Terrible!"
    [explanation] = monitoring.lime_explanations(predict_proba, [text], ["negative", "neutral", "positive"], 0, num_samples=200, seed=0)
    weights = {w["token"]: w["weight"] for w in explanation["weights"]}
    assert [w["token"] for w in explanation["weights"][:2]] == ["terrible", "refund"]
    assert weights["terrible"] > 0.5 > weights["refund"] > 0.05 and isinstance(explanation["seconds"], float)


def test_per_class_quality():
    confusion = np.array([[40, 5, 5], [10, 20, 20], [0, 10, 890]])
    rows = monitoring.per_class_quality(confusion, ("negative", "neutral", "positive"))
    assert rows[0]["precision"] == pytest.approx(40 / 50) and rows[0]["recall"] == pytest.approx(40 / 50)
    assert rows[1]["recall"] == pytest.approx(20 / 50) and rows[2]["support"] == 900


CLASSES = ("negative", "neutral", "positive")
TEST_CONFUSION = [[160, 25, 15], [30, 50, 20], [20, 40, 640]]


def _quality(confusion: np.ndarray) -> dict:
    rows = monitoring.per_class_quality(confusion, CLASSES)
    return {"rated_reviews": int(confusion.sum()), "macro_f1": float(np.mean([r["f1"] for r in rows])), "per_class": rows}


def test_the_chance_level_falls_with_the_nights_size_and_bucketing_errs_towards_silence():
    reference = [1500, 700, 7800]
    levels = [chance.distribution_chance(n, reference, 0.999) for n in (50, 300, 3000, 30000)]
    for measure in ("psi", "js_distance", "share_increase"):
        values = [level[measure] for level in levels]
        assert values == sorted(values, reverse=True), (measure, values)
    # The share change is judged in standard deviations, whose chance level hardly moves
    # with the size (the points it stands for shrink with the standard deviation).
    assert all(3 < level["share_z"] < 5 for level in levels), levels
    assert all(chance.size_bucket(n) <= n and chance.size_bucket(n) >= 0.85 * n for n in (7, 50, 301, 3000, 123_456))
    assert chance.distribution_chance(0, reference, 0.999) == {} and chance.distribution_chance(10, [0, 0, 0], 0.999) == {}


@pytest.mark.parametrize("size", [50, 300, 3000])
def test_nights_from_the_references_own_distribution_rarely_cross_the_chance_level(size):
    """The rule's false-alarm rate: nights and references drawn from one distribution pass
    the chance level about once in a thousand per statistic."""
    rng = np.random.default_rng(size)
    shares = np.array([0.15, 0.07, 0.78])
    crossed = 0
    for _ in range(300):
        reference = rng.multinomial(10 * size, shares).astype(float)
        day = rng.multinomial(size, shares).astype(float)
        levels = chance.distribution_chance(size, reference, 0.999)
        crossed += chance.psi(day, reference)[0] > levels["psi"] or chance.js(day, reference)[0] > levels["js_distance"]
    assert crossed <= 3


def test_a_shift_of_the_class_mix_fires_on_a_big_night_and_not_on_a_tiny_one():
    thresholds = ReportThresholds()
    reference = signals.Measures(class_counts={"negative": 1500, "neutral": 700, "positive": 7800})
    for size, expected in ((50, False), (3000, True)):
        night = signals.Measures(class_counts={"negative": int(0.25 * size), "neutral": int(0.07 * size), "positive": int(0.68 * size)})
        fired = {s["measure"] for s in signals.prediction_signals(night, {"trailing": reference}, CLASSES, thresholds) if s["fired"]}
        assert ("class shares: share change" in fired) is expected, (size, fired)
    # Equal mixes never fire, however big the night.
    same = signals.Measures(class_counts={"negative": 15000, "neutral": 7000, "positive": 78000})
    assert not [s for s in signals.prediction_signals(same, {"trailing": reference}, CLASSES, thresholds) if s["fired"]]


def test_an_effect_below_its_threshold_never_fires_even_far_beyond_chance():
    thresholds = ReportThresholds()
    reference = signals.Measures(class_counts={"negative": 150_000, "neutral": 70_000, "positive": 780_000})
    night = signals.Measures(class_counts={"negative": 17_000, "neutral": 7_000, "positive": 76_000})  # 2 points on 100K reviews
    rows = signals.prediction_signals(night, {"trailing": reference}, CLASSES, thresholds)
    change = next(s for s in rows if s["measure"] == "class shares: share change")
    assert change["value"] > change["chance_level"] and not change["fired"]


def test_live_quality_fires_only_below_the_test_behaviour_at_the_nights_support():
    thresholds = ReportThresholds(f1_drop=0.1, min_rated_per_class=30)
    test = {"macro_f1": 0.71, "per_class": {c: {"f1": f} for c, f in zip(CLASSES, (0.78, 0.45, 0.92), strict=True)}, "confusion_matrix": TEST_CONFUSION}
    as_tested = np.array([[80, 12, 8], [15, 25, 10], [10, 20, 320]])  # half the test split: the same behaviour
    assert not [s for s in signals.quality_signals(_quality(as_tested), test, CLASSES, thresholds) if s["fired"]]
    broken = np.array([[20, 10, 70], [15, 25, 10], [200, 20, 130]])  # negatives and positives swapped
    fired = [s["measure"] for s in signals.quality_signals(_quality(broken), test, CLASSES, thresholds) if s["fired"]]
    assert "F1 negative drop" in fired and "macro-F1 drop" in fired
    assert signals.quality_signals(_quality(broken), None, CLASSES, thresholds) == []


def test_input_shares_fire_above_threshold_and_chance():
    thresholds = ReportThresholds()
    reference = signals.Measures(input={"reviews": 5000, "oov_share": 0.05, "truncated_share": 0.01, "short_share": 0.02, "non_english_share": 0.0, "language_sample": 2000})
    night = signals.Measures(input={"reviews": 1000, "oov_share": 0.2, "truncated_share": 0.02, "short_share": 0.02, "non_english_share": None})
    fired = [s["measure"] for s in signals.input_signals(night, reference, "training", thresholds) if s["fired"]]
    assert fired == ["oov_share"]
    tiny = signals.Measures(input={"reviews": 10, "oov_share": 0.12, "truncated_share": 0.0, "short_share": 0.1, "non_english_share": None})
    assert not [s for s in signals.input_signals(tiny, reference, "training", thresholds) if s["fired"]]  # 10 reviews: chance


def test_duplicates_fire_when_every_review_arrives_twice():
    thresholds = ReportThresholds()
    trailing = signals.Measures(rows=30_000, duplicates=30)
    doubled = signals.duplicate_signals(signals.Measures(rows=600, duplicates=300), trailing, thresholds)
    assert doubled[0]["fired"] and doubled[0]["value"] == pytest.approx(0.5 - 0.001)
    assert not signals.duplicate_signals(signals.Measures(rows=600, duplicates=1), trailing, thresholds)[0]["fired"]


def _fired(kind: str, measure: str, ratio: float) -> dict:
    return {"kind": kind, "measure": measure, "reference": "trailing", "value": ratio, "threshold": 1.0, "chance_level": 0.1, "fired": True, "ratio": ratio, "message": f"{measure}: {ratio}"}


def test_signals_of_one_shift_are_one_incident_that_continues_without_a_new_alert():
    thresholds = ReportThresholds()
    night = [_fired("predictions", "class shares: PSI", 1.5), _fired("predictions", "p(negative) histogram: JS distance", 1.2), _fired("input", "oov_share", 4.0)]
    quiet = {**_fired("ratings", "star ratings: PSI", 0.5), "fired": False}
    first = incidents.open_incidents(dt.date(2015, 8, 30), [*night, quiet], [], thresholds)
    assert [(i["kind"], i["status"], i["severity"]) for i in first] == [("input", "new", "page"), ("predictions", "new", "warning")]
    assert first[1]["evidence"] == ["class shares: PSI: 1.5", "p(negative) histogram: JS distance: 1.2"] and "1 more signal" in first[1]["message"]
    assert [i["kind"] for i in incidents.notifying(first)] == ["input", "predictions"]
    second = incidents.open_incidents(dt.date(2015, 8, 31), night[:2], first, thresholds)
    assert len(second) == 1 and second[0]["id"] == first[1]["id"] == "predictions-2015-08-30"
    assert (second[0]["status"], second[0]["severity"], second[0]["opened_as"], second[0]["age_nights"]) == ("continuing", "info", "warning", 2)
    assert incidents.notifying(second) == [] and "1 continuing" in incidents.headline(second)
    # A quiet night in between (too small to show the shift) does not end the incident.
    fourth = incidents.open_incidents(dt.date(2015, 9, 2), night[:1], incidents.carried([[], second, first]), thresholds)
    assert (fourth[0]["id"], fourth[0]["status"], fourth[0]["age_nights"]) == ("predictions-2015-08-30", "continuing", 4)
    later = incidents.open_incidents(dt.date(2015, 9, 6), night[:1], incidents.carried([[], [], [], second]), thresholds)
    assert later[0]["status"] == "new"  # seen more than CONTINUE_WITHIN_DAYS nights ago: a new incident
    quality = incidents.open_incidents(dt.date(2015, 8, 31), [_fired("quality", "macro-F1 drop", 1.1)], [], thresholds)
    assert quality[0]["severity"] == "page"  # the model disagrees with the customers' own stars


def test_report_options_take_the_configured_thresholds_only_when_none_are_given():
    configured, own = ReportThresholds(psi=0.3), ReportThresholds(psi=0.5)
    assert ReportOptions().resolved(configured).thresholds == configured
    assert ReportOptions(window_days=7, thresholds=own).resolved(configured) == ReportOptions(window_days=7, thresholds=own)
    with pytest.raises(ValueError):
        ReportOptions(window_days=0)


def test_thresholds_are_settings(monkeypatch):
    monkeypatch.setenv("SENTIMENT_REPORT_THRESHOLDS", '{"psi": 0.3, "strong_probability": 0.95}')
    thresholds = get_settings().report_thresholds
    assert thresholds.psi == 0.3 and thresholds.strong_probability == 0.95 and thresholds.js_distance == ReportThresholds().js_distance
