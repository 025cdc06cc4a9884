"""The wide part of the wide-and-deep classifier: words and word pairs, TF-IDF rows, the
fitted linear model, how it combines with the network (stacked, or a share), and its file."""

import numpy as np
import pyarrow as pa
import pytest

from sentiment_model.model.wide import WideNgrams, ngram_terms, tfidf_rows
from sentiment_model.training.config import TrainConfig

DEFAULTS = TrainConfig()

TOKENS = pa.array([["not", "good", "at", "all"], [], ["good"], ["very", "good"]], type=pa.list_(pa.string()))


def test_terms_are_words_and_pairs_within_a_review():
    terms, rows = ngram_terms(TOKENS)
    found = sorted(zip(rows.tolist(), terms.to_pylist(), strict=True))
    assert found == sorted(
        [(0, "not"), (0, "good"), (0, "at"), (0, "all"), (0, "not good"), (0, "good at"), (0, "at all"), (2, "good"), (3, "very"), (3, "good"), (3, "very good")]
    )  # no pair spans two reviews ("all good", "good very")


def test_tfidf_rows_are_unit_length_and_empty_rows_stay_zero():
    import scipy.sparse as sp

    counts = sp.csr_matrix(np.array([[2.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32))
    rows = tfidf_rows(counts, np.array([1.0, 2.0, 3.0], dtype=np.float32)).toarray()
    expected_first = np.array([(1 + np.log(2)) * 1.0, 0.0, 3.0])
    np.testing.assert_allclose(rows[0], expected_first / np.linalg.norm(expected_first), rtol=1e-6)
    np.testing.assert_array_equal(rows[1], 0.0)
    np.testing.assert_allclose(rows[2], [0.0, 1.0, 0.0])


def fit(tokens: pa.ListArray, labels: np.ndarray, **options: object) -> WideNgrams:
    """WideNgrams.fit with TrainConfig's wide part (its one home) unless ``options`` say otherwise."""
    return WideNgrams.fit(tokens, labels, **{"max_terms": DEFAULTS.wide_terms, "c": DEFAULTS.wide_c, "seed": DEFAULTS.seed, **options})


def corpus(copies: int = 5) -> tuple[pa.ListArray, np.ndarray]:
    reviews = [("awful broke fast", 0), ("not good at all", 0), ("it is okay", 1), ("okay i guess", 1), ("great works well", 2), ("very good value", 2)]
    tokens = [text.split() for text, _ in reviews] * copies
    return pa.array(tokens, type=pa.list_(pa.string())), np.array([label for _, label in reviews] * copies)


def test_fit_keeps_terms_of_several_reviews_most_common_first_and_learns_the_classes():
    tokens, labels = corpus()
    once = pa.array([["unique", "words"]], type=pa.list_(pa.string()))
    wide = fit(pa.concat_arrays([tokens, once]), np.append(labels, 2), max_terms=1_000, min_reviews=2)
    terms = wide.terms.to_pylist()
    assert "unique" not in terms and "unique words" not in terms  # in one review only
    assert {"good", "not good", "okay"} <= set(terms)
    assert terms[:2] == ["good", "okay"]  # in 10 reviews each, every other term in 5
    assert terms[2:] == sorted(terms[2:])  # ties by the term itself
    n = len(tokens) + 1
    assert wide.idf[0] == pytest.approx(np.log((1 + n) / (1 + 10)) + 1)
    probabilities = wide.predict_proba(tokens)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(axis=1) == labels).all()
    capped = fit(tokens, labels, max_terms=3)
    assert capped.terms.to_pylist()[:2] == ["good", "okay"] and len(capped.terms) == 3


def test_fit_needs_every_class():
    tokens, labels = corpus()
    keep = labels != 1
    with pytest.raises(ValueError, match="every class"):
        fit(tokens.filter(pa.array(keep)), labels[keep])


def test_unknown_and_empty_reviews_score_the_prior_only():
    tokens, labels = corpus()
    wide = fit(tokens, labels)
    unseen = wide.predict_proba(pa.array([[], ["zzz", "qqq"]], type=pa.list_(pa.string())))
    np.testing.assert_allclose(unseen[0], unseen[1], rtol=1e-6)
    intercept = np.exp(wide.intercept - wide.intercept.max())
    np.testing.assert_allclose(unseen[0], intercept / intercept.sum(), rtol=1e-5)


def test_blend_averages_by_the_share_and_share_zero_is_the_network():
    tokens, labels = corpus()
    wide = fit(tokens, labels)
    network = np.tile(np.array([[0.2, 0.3, 0.5]], dtype=np.float32), (len(tokens), 1))
    assert wide.blend(network, tokens) is network
    half = wide.with_share(0.5)
    np.testing.assert_allclose(half.blend(network, tokens), 0.5 * network + 0.5 * wide.predict_proba(tokens), rtol=1e-6)


def test_a_stacked_combiner_is_a_softmax_over_both_log_probabilities_and_replaces_the_share():
    from sentiment_model.model.wide import PROBABILITY_FLOOR

    tokens, labels = corpus()
    wide = fit(tokens, labels).with_share(0.5)
    network = np.tile(np.array([[0.2, 0.0, 0.8]], dtype=np.float32), (len(tokens), 1))  # a 0: floored, finite
    combiner = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    stacked = wide.with_combiner(combiner)
    assert stacked.share == 0.0
    features = np.hstack([np.log(np.maximum(network, PROBABILITY_FLOOR)), np.log(wide.predict_proba(tokens)), np.ones((len(tokens), 1))])
    expected = np.exp(features @ combiner)
    np.testing.assert_allclose(stacked.blend(network, tokens), expected / expected.sum(1, keepdims=True), rtol=1e-5)
    assert stacked.with_share(0.3).combiner is None


def test_a_length_aware_combiner_weighs_each_part_by_the_reviews_standardized_length():
    from sentiment_model.model.wide import PROBABILITY_FLOOR, review_lengths

    tokens, labels = corpus()
    wide = fit(tokens, labels)
    network = np.random.default_rng(1).dirichlet(np.ones(3), size=len(tokens)).astype(np.float32)
    combiner = np.random.default_rng(0).normal(size=(14, 3)).astype(np.float32)
    by_length = wide.with_combiner(combiner, (2.0, 0.5))
    counts = np.array([len(words) for words in tokens.to_pylist()])
    np.testing.assert_allclose(review_lengths(tokens), np.log1p(counts))
    z = (np.log1p(counts) - 2.0) / 0.5
    logs = np.hstack([np.log(np.maximum(network, PROBABILITY_FLOOR)), np.log(wide.predict_proba(tokens))])
    features = np.hstack([logs, logs * z[:, None], z[:, None], np.ones((len(tokens), 1))])
    expected = np.exp(features @ combiner)
    np.testing.assert_allclose(by_length.blend(network, tokens), expected / expected.sum(1, keepdims=True), rtol=1e-4)
    # With the length terms at 0 it is the plain stacked combiner.
    plain = np.random.default_rng(2).normal(size=(7, 3)).astype(np.float32)
    padded = np.vstack([plain[:6], np.zeros((7, 3), np.float32), plain[6:]])
    np.testing.assert_allclose(wide.with_combiner(padded, (2.0, 0.5)).blend(network, tokens), wide.with_combiner(plain).blend(network, tokens), rtol=1e-5)
    assert by_length.with_share(0.2).length_norm is None


def test_scoring_in_chunks_equals_scoring_at_once(monkeypatch):
    import sentiment_model.model.wide as wide_module

    tokens, labels = corpus()
    wide = fit(tokens, labels)
    whole = wide.predict_proba(tokens)
    monkeypatch.setattr(wide_module, "SCORE_CHUNK", 7)
    np.testing.assert_allclose(wide.predict_proba(tokens), whole, rtol=1e-6)


def test_file_round_trip_and_a_damaged_file_is_refused():
    tokens, labels = corpus()
    wide = fit(tokens, labels).with_share(0.3)
    again = WideNgrams.from_bytes(wide.to_bytes())
    assert again.terms.equals(wide.terms) and again.terms.type == pa.string() and again.share == 0.3
    np.testing.assert_array_equal(again.coef, wide.coef)
    np.testing.assert_allclose(again.predict_proba(tokens), wide.predict_proba(tokens))
    assert again.combiner is None  # an averaging wide part (as every file before round 12)
    combiner = np.arange(21, dtype=np.float32).reshape(7, 3)
    np.testing.assert_array_equal(WideNgrams.from_bytes(wide.with_combiner(combiner).to_bytes()).combiner, combiner)
    broken = WideNgrams(wide.terms[:-1], wide.idf, wide.coef, wide.intercept)
    with pytest.raises(ValueError, match="inconsistent"):
        WideNgrams.from_bytes(broken.to_bytes())
    with pytest.raises(ValueError, match="combiner"):
        WideNgrams.from_bytes(wide.with_combiner(combiner[:5]).to_bytes())
    by_length = np.arange(42, dtype=np.float32).reshape(14, 3)
    again = WideNgrams.from_bytes(wide.with_combiner(by_length, (3.5, 1.2)).to_bytes())
    np.testing.assert_array_equal(again.combiner, by_length)
    assert again.length_norm == (3.5, 1.2)
    with pytest.raises(ValueError, match="by length"):  # a round-12 matrix with a length norm
        WideNgrams.from_bytes(wide.with_combiner(combiner, (3.5, 1.2)).to_bytes())
    with pytest.raises(ValueError, match="length norm"):
        WideNgrams.from_bytes(wide.with_combiner(by_length, (3.5, 0.0)).to_bytes())


def test_fit_wide_stacks_on_validation_and_falls_back_to_the_share():
    from sentiment_model.training.train import TrainConfig, fit_wide

    tokens, labels = corpus()
    knows_nothing = np.full((len(tokens), 3), 1 / 3, dtype=np.float32)  # a network with no signal
    config = TrainConfig(wide_terms=1_000)
    wide, _, score, facts = fit_wide(tokens, labels, tokens, labels, knows_nothing, config)
    assert facts["combiner"] == "stacked_length" and wide.combiner.shape == (14, 3) and facts["share"] is None
    lengths = np.log1p([len(words) for words in tokens.to_pylist()])
    np.testing.assert_allclose(wide.length_norm, (lengths.mean(), lengths.std()))
    assert score == facts["stacked_validation_macro_f1"] == 1.0
    wide, _, score, facts = fit_wide(tokens, labels, tokens, labels, knows_nothing, config.model_copy(update={"wide_combiner": "stacked"}))
    assert facts["combiner"] == "stacked" and wide.combiner.shape == (7, 3) and wide.length_norm is None
    # One number, the share, is what a validation split without every class can choose.
    has_no_neutral = labels != 1
    wide, _, _, facts = fit_wide(tokens, labels, tokens.filter(pa.array(has_no_neutral)), labels[has_no_neutral], knows_nothing[has_no_neutral], config)
    assert facts["combiner"] == "share" and wide.combiner is None and wide.share == facts["share"] > 0.0
    wide, _, _, facts = fit_wide(tokens, labels, tokens, labels, knows_nothing, config.model_copy(update={"wide_combiner": "share"}))
    assert facts["combiner"] == "share" and wide.combiner is None and "stacked_validation_macro_f1" not in facts
