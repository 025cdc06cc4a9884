"""The report's measures on hand-made inputs: effect sizes, input health, text drift,
live quality per class and the alert rules."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sentiment_model.core.settings import ReportOptions, ReportThresholds, get_settings
from sentiment_model.model.text import Vocabulary
from sentiment_model.reporting import monitoring


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


def test_per_class_quality_and_quality_alerts():
    confusion = np.array([[40, 5, 5], [10, 20, 20], [0, 10, 890]])
    rows = monitoring.per_class_quality(confusion, ("negative", "neutral", "positive"))
    assert rows[0]["precision"] == pytest.approx(40 / 50) and rows[0]["recall"] == pytest.approx(40 / 50)
    assert rows[1]["recall"] == pytest.approx(20 / 50) and rows[2]["support"] == 900
    live = {"rated_reviews": 1000, "macro_f1": float(np.mean([r["f1"] for r in rows])), "per_class": rows}
    expected = {"macro_f1": 0.75, "per_class": {"negative": {"f1": 0.8}, "neutral": {"f1": 0.6}, "positive": {"f1": 0.97}}}
    alerts = monitoring.quality_alerts(live, expected, ReportThresholds(f1_drop=0.1))
    assert [a["name"] for a in alerts] == ["F1 neutral"]
    assert monitoring.quality_alerts(live, None, ReportThresholds()) == []


def test_input_health_alerts_fire_only_above_the_threshold():
    reference = {"oov_share": 0.05, "truncated_share": 0.01, "short_share": 0.02, "non_english_share": 0.0}
    day = {"reviews": 100, "oov_share": 0.2, "truncated_share": 0.02, "short_share": 0.02, "non_english_share": None}
    alerts = monitoring.input_health_alerts(day, reference, "training", ReportThresholds())
    assert [a["name"] for a in alerts] == ["oov_share vs training"]
    assert monitoring.input_health_alerts(day, None, "training", ReportThresholds()) == []


def test_drift_alerts_use_the_thresholds():
    drift = {"class_shares": {"trailing": {"psi": 0.3, "js_distance": 0.05}, "training": None}, "probabilities": {"trailing": {"negative": {"psi": 0.01, "js_distance": 0.2}}, "training": None}}
    names = [a["name"] for a in monitoring.drift_alerts(drift, ReportThresholds(psi=0.25, js_distance=0.1))]
    assert names == ["class shares vs trailing: PSI", "p(negative) histogram vs trailing: JS distance"]
    assert monitoring.drift_alerts(drift, ReportThresholds(psi=0.5, js_distance=0.5)) == []


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
