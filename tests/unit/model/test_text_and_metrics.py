"""Tokenizer and metrics: pure functions on hand-written inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment_model.model.decision import apply_offsets
from sentiment_model.model.text import OOV_ID, Vocabulary, kept_positions, pad_right, tokenize
from sentiment_model.training.metrics import blend, classification_metrics, macro_f1, star_metrics, tune_blend, tune_class_offsets


def test_normalization_keeps_sentiment_punctuation_and_marks_specials():
    out = tokenize(["I didn't like it!!! :) <br />It cost $12.99 &#34;great&#34; http://x.co/a :("]).to_pylist()[0]
    assert out == ["i", "did", "not", "like", "it", "!", "xxsmile", "it", "cost", "xxnum", '"great"'.strip('"'), "xxurl", "xxfrown"]


def test_empty_and_null_texts_tokenize_to_nothing():
    assert tokenize(["", "   ", None]).to_pylist() == [[], [], []]


def test_vocabulary_from_training_text_and_right_padding():
    vocab = Vocabulary.build(tokenize(["good good bad", "good ok"]), max_size=10, min_count=1)
    assert vocab.tokens[0] == "good" and len(vocab) == len(vocab.tokens) + 2
    ids, lengths = vocab.encode(["good bad unseen", "", "ok " * 10], max_length=4)
    assert ids.shape == (3, 4) and ids.dtype == np.int32
    assert ids[0].tolist() == [2, vocab.tokens.index("bad") + 2, OOV_ID, 0]  # right-padded, OOV = 1
    assert ids[1].tolist() == [OOV_ID, 0, 0, 0] and lengths[1] == 1  # never an all-padding row
    assert lengths.tolist() == [3, 1, 4]


def test_a_long_review_keeps_its_head_and_tail():
    """Lists longer than max_length lose their middle: the first `head` tokens and the
    last max_length - head stay, in order; shorter lists are whole; head None (or >=
    max_length) keeps the first max_length, as models before round 14 read."""
    vocab = Vocabulary(tuple("abcdefgh"))  # a..h -> ids 2..9
    texts = ["a b c d e f g h", "a b", "a b c d e"]
    ids, lengths = vocab.encode(texts, max_length=4, head=1)
    assert ids.tolist() == [[2, 7, 8, 9], [2, 3, 0, 0], [2, 4, 5, 6]] and lengths.tolist() == [4, 2, 4]
    for head in (None, 4, 9):
        assert vocab.encode(texts, max_length=4, head=head)[0].tolist() == [[2, 3, 4, 5], [2, 3, 0, 0], [2, 3, 4, 5]]
    assert vocab.encode(texts, max_length=4, head=0)[0].tolist()[0] == [6, 7, 8, 9]
    # The same cut whether lookup cuts or pad_right does (the service pads uncut lookups).
    flat, offsets = vocab.lookup(tokenize(texts))
    assert pad_right(flat, offsets, 4, head=1)[0].tolist() == ids.tolist()
    assert kept_positions(np.array([5, 2]), 4, 1).tolist() == [True, False, True, True, True, True, True]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=30), st.integers(1, 20), st.one_of(st.none(), st.integers(0, 25)))
def test_kept_positions_match_the_rule_list_by_list(lengths, max_length, head):
    """The vectorized marks equal the rule written out per list: a list that fits is kept
    whole; a longer one keeps its first `head` tokens and its last max_length - head."""
    keep_first = max_length if head is None else min(head, max_length)
    expected = []
    for n in lengths:
        expected += [n <= max_length or i < keep_first or i >= n - (max_length - keep_first) for i in range(n)]
    kept = kept_positions(np.array(lengths, dtype=np.int64), max_length, head)
    assert kept.tolist() == expected
    assert kept.sum() == sum(min(n, max_length) for n in lengths)


def test_vocabulary_respects_size_and_min_count():
    vocab = Vocabulary.build(tokenize(["a a a b b c"]), max_size=4, min_count=2)
    assert vocab.tokens == ("a", "b")


def test_metrics_keys_and_absent_class():
    y = np.array([2, 2, 0, 0])
    probabilities = np.array([[0.1, 0.1, 0.8], [0.2, 0.1, 0.7], [0.7, 0.2, 0.1], [0.3, 0.1, 0.6]])
    m = classification_metrics(y, probabilities)
    assert set(m) >= {"n", "accuracy", "macro_f1", "weighted_f1", "roc_auc_ovr", "per_class", "confusion_matrix", "macro_f1_present"}
    assert m["per_class"]["neutral"]["support"] == 0
    assert m["confusion_matrix"] == [[1, 0, 1], [0, 0, 0], [0, 0, 2]]
    assert m["macro_f1_present"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 3)


def test_offsets_tuned_on_validation_raise_macro_f1():
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=2000, p=[0.1, 0.1, 0.8])
    logits = np.eye(3)[y] * 1.0 + rng.normal(0, 1, size=(2000, 3)) + np.array([0, 0, 1.5])  # biased to positive
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    offsets = tune_class_offsets(probabilities, y)
    assert macro_f1(y, apply_offsets(probabilities, offsets)) > macro_f1(y, probabilities.argmax(1)) + 0.02


def test_blend_share_chosen_on_validation_beats_either_model_alone():
    """Two models that each see a different half of the signal: their average is better
    than either, so the tuned share is strictly between 0 and 1; with a useless baseline the
    share is 0 (the model alone) and nothing changes."""
    rng = np.random.default_rng(1)
    y = rng.choice(3, size=3000, p=[0.2, 0.2, 0.6])

    def noisy(scale: float) -> np.ndarray:
        logits = 1.5 * np.eye(3)[y] + rng.normal(0, scale, size=(len(y), 3))
        return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)

    model, baseline = noisy(1.0), noisy(1.0)
    weight, offsets, score = tune_blend(model, baseline, y)
    assert 0.0 < weight < 0.9
    assert score == pytest.approx(macro_f1(y, apply_offsets(blend(model, baseline, weight), offsets)))
    alone = macro_f1(y, apply_offsets(model, tune_class_offsets(model, y)))
    assert score > alone + 0.01
    uniform = np.full_like(model, 1 / 3)
    weight, _, score = tune_blend(model, uniform, y, weights=(0.0, 0.5))
    assert weight == 0.0 and score == pytest.approx(alone)
    with pytest.raises(ValueError):
        tune_blend(model, baseline, y, weights=())


def test_stacked_blend_weighs_each_part_per_class_where_one_share_cannot():
    """The model knows only the negatives and the baseline only the positives: one share
    must trade one for the other; the stacked combiner takes each part where it knows."""
    from sentiment_model.model.wide import stacked_probabilities
    from sentiment_model.training.metrics import fit_stacked_blend

    rng = np.random.default_rng(2)
    y = rng.choice(3, size=3000, p=[0.2, 0.2, 0.6])

    def knowing(label: int) -> np.ndarray:
        logits = 2.5 * np.eye(3)[np.full(len(y), label)] * (y == label)[:, None] + rng.normal(0, 1, size=(len(y), 3))
        return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)

    model, baseline = knowing(0), knowing(2)
    combiner, offsets, score = fit_stacked_blend(model, baseline, y)
    assert combiner.shape == (7, 3)
    assert score == pytest.approx(macro_f1(y, apply_offsets(stacked_probabilities(model, baseline, combiner), offsets)))
    assert score > tune_blend(model, baseline, y)[2] + 0.05
    with pytest.raises(ValueError, match="every class"):
        fit_stacked_blend(model[y > 0], baseline[y > 0], y[y > 0])


def test_bootstrap_interval_and_paired_difference_on_a_fixed_example():
    from sentiment_model.training.metrics import bootstrap_macro_f1, comparison_line

    rng = np.random.default_rng(0)
    y = rng.choice(3, size=600, p=[0.2, 0.1, 0.7])
    good = np.where(rng.random(600) < 0.9, y, (y + 1) % 3)  # 90% right
    worse = np.where(rng.random(600) < 0.6, y, (y + 1) % 3)  # 60% right
    result = bootstrap_macro_f1(y, good, worse, resamples=300, seed=1)
    low, high = result["ci"]
    assert low < result["macro_f1"] < high and high - low < 0.15
    assert result["difference"] == pytest.approx(result["macro_f1"] - result["baseline_macro_f1"])
    assert result["difference_ci"][0] > 0 and result["verdict"] == "better"
    assert "beats" in comparison_line(result)
    # A model against itself: the difference is exactly 0 in every resample, so a tie.
    same = bootstrap_macro_f1(y, good, good, resamples=100, seed=1)
    assert same["difference_ci"] == [0.0, 0.0] and same["verdict"] == "tie"
    assert bootstrap_macro_f1(y, worse, good, resamples=100, seed=1)["verdict"] == "worse"


def test_mean_difference_over_training_runs_on_a_fixed_example():
    """One run equals the single-run bootstrap; a lucky run and an unlucky one average out
    to a tie although the lucky one alone would read as a win."""
    from sentiment_model.training.metrics import bootstrap_macro_f1, bootstrap_mean_difference

    rng = np.random.default_rng(0)
    y = rng.choice(3, size=600, p=[0.2, 0.1, 0.7])
    baseline = np.where(rng.random(600) < 0.75, y, (y + 1) % 3)
    lucky = np.where(rng.random(600) < 0.85, y, (y + 1) % 3)
    unlucky = np.where(rng.random(600) < 0.65, y, (y + 1) % 3)
    single = bootstrap_macro_f1(y, lucky, baseline, resamples=200, seed=1)
    one_run = bootstrap_mean_difference(y, [lucky], baseline, resamples=200, seed=1)
    assert one_run["mean_difference"] == pytest.approx(single["difference"])
    assert one_run["mean_difference_ci"] == pytest.approx(single["difference_ci"])
    assert single["verdict"] == "better"
    both = bootstrap_mean_difference(y, [lucky, unlucky], baseline, resamples=200, seed=1)
    assert both["run_differences"][0] > 0 > both["run_differences"][1]
    assert both["mean_macro_f1"] == pytest.approx(np.mean(both["run_macro_f1"]))
    assert both["mean_difference"] == pytest.approx(np.mean(both["run_differences"]))
    low, high = both["mean_difference_ci"]
    assert low < both["mean_difference"] < high and both["verdict"] == "tie"
    with pytest.raises(ValueError, match="at least one run"):
        bootstrap_mean_difference(y, [], baseline)


def test_emoji_and_symbols_are_tokens_and_invisible_text_has_none():
    from sentiment_model.model.text import tokenize

    tokens = tokenize(["Love it 👍👍 ★★★★★", "😡 broke", "\u200b \u200d\t", "❤️"]).to_pylist()
    assert tokens[0] == ["love", "it", "👍", "👍", "★", "★", "★", "★", "★"]
    assert tokens[1] == ["😡", "broke"]
    assert tokens[2] == []  # zero-width characters only: no tokens at all
    assert tokens[3] == ["❤"]  # the variation selector is dropped


def test_star_metrics_on_a_fixed_example():
    stars_true = np.array([0, 1, 2, 3, 4, 4])  # 1..5 stars as ids
    probabilities = np.eye(5)[[0, 2, 2, 3, 3, 1]]  # exact, off by one, exact, exact, off by one, off by three
    metrics = star_metrics(stars_true, probabilities)
    assert metrics["exact_accuracy"] == pytest.approx(3 / 6)
    assert metrics["within_one_star"] == pytest.approx(5 / 6)
    assert metrics["mean_absolute_error"] == pytest.approx((0 + 1 + 0 + 0 + 1 + 3) / 6)
    # per star F1: 1 star 1.0, 2 stars 0, 3 stars 2/3, 4 stars 2/3, 5 stars 0
    assert metrics["macro_f1"] == pytest.approx((1 + 0 + 2 / 3 + 2 / 3 + 0) / 5)
