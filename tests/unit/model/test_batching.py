"""Inference batches: every row once, each padded to its bucket, within the token budget."""

from __future__ import annotations

import keras
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment_model.model.batching import (
    INFERENCE_WIDTHS,
    MAX_BATCH_ROWS,
    MAX_BATCH_TOKENS,
    STEP_COST_ROWS,
    BucketedSequence,
    _rows_per_call,
    bucket_widths,
    inference_batches,
    inference_widths,
    predict_bucketed,
)
from sentiment_model.model.network import attention_model
from sentiment_model.model.registry import load_classifier
from sentiment_model.model.text import OOV_ID, PAD_ID

BUCKETS = (16, 32, 64, 128, 200)


def check_batches(lengths: np.ndarray, max_tokens: int, max_rows: int) -> None:
    batches = inference_batches(lengths, BUCKETS, max_tokens, max_rows)
    rows = np.concatenate([r for r, _ in batches]) if batches else np.array([], dtype=int)
    assert np.array_equal(np.sort(rows), np.arange(len(lengths))), "every row exactly once"
    for batch_rows, width in batches:
        assert width in BUCKETS
        assert lengths[batch_rows].max() <= width or width == BUCKETS[-1]
        smaller = [edge for edge in BUCKETS if edge < width]
        assert not smaller or lengths[batch_rows].max() > smaller[-1], "the narrowest bucket that fits"
        assert len(batch_rows) <= max_rows
        assert len(batch_rows) == 1 or len(batch_rows) * width <= max_tokens


def test_batches_respect_the_token_budget_and_bucket_edges():
    lengths = np.array([0, 1, 16, 17, 32, 33, 200, 201, 5_000] * 300)
    check_batches(lengths, max_tokens=2_048, max_rows=100)
    widths = [width for _, width in inference_batches(lengths, BUCKETS, 2_048, 100)]
    assert widths == sorted(widths), "short reviews first: deterministic, length-sorted"
    long_batches = [rows for rows, width in inference_batches(lengths, BUCKETS, 2_048, 100) if width == 200]
    assert max(len(rows) for rows in long_batches) == 2_048 // 200
    assert inference_batches(np.array([], dtype=np.int64), BUCKETS) == []


def test_a_few_rows_of_many_widths_share_one_call_and_a_nights_rows_keep_their_widths():
    """Each padded step costs a fixed overhead: 32 reviews spread over 13 widths take a few
    calls (the service's batches), while thousands per width keep the fine widths (a
    night's scoring), since padding them would cost more than the calls saved."""
    lengths = np.array([3, 9, 14, 20, 30, 38, 45, 60, 75, 90, 120, 150, 199] * 2 + [5] * 6)
    assert len(unmerged_batches(lengths, INFERENCE_WIDTHS)) == 13
    batches = inference_batches(lengths, INFERENCE_WIDTHS)
    assert len(batches) <= 3 and batches[-1][1] == 200
    night = np.repeat(lengths, 500)
    widths = [width for _, width in inference_batches(night, INFERENCE_WIDTHS)]
    assert sorted(set(widths)) == sorted(set(bucket_widths(lengths, INFERENCE_WIDTHS).tolist()))


def test_merging_never_costs_more_than_one_call_per_width():
    rng = np.random.default_rng(3)
    for size in (1, 5, 40, 300, 3_000):
        lengths = rng.integers(0, 260, size)
        merged = inference_batches(lengths, INFERENCE_WIDTHS)
        per_width = unmerged_batches(lengths, INFERENCE_WIDTHS)
        assert row_steps(merged) <= row_steps(per_width), size


def unmerged_batches(lengths: np.ndarray, buckets: tuple[int, ...]) -> list[tuple[np.ndarray, int]]:
    """One call group per bucket width (the batching before merging)."""
    order = np.argsort(lengths, kind="stable")
    widths = bucket_widths(lengths[order], buckets)
    batches = []
    for width in np.unique(widths).tolist():
        rows, step = order[widths == width], _rows_per_call(width, MAX_BATCH_TOKENS, MAX_BATCH_ROWS)
        batches.extend((rows[i : i + step], width) for i in range(0, len(rows), step))
    return batches


def row_steps(batches: list[tuple[np.ndarray, int]]) -> int:
    return sum(width * (STEP_COST_ROWS + len(rows)) for rows, width in batches)


def test_a_row_wider_than_the_budget_still_gets_a_batch_of_its_own():
    batches = inference_batches(np.array([150, 150]), BUCKETS, max_tokens=100)
    assert [(len(rows), width) for rows, width in batches] == [(1, 200), (1, 200)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 400), max_size=300), st.integers(1, 5_000), st.integers(1, 300))
def test_batches_cover_every_row_for_any_lengths(lengths, max_tokens, max_rows):
    check_batches(np.array(lengths, dtype=np.int64), max_tokens, max_rows)


def test_predictions_do_not_depend_on_the_batching(tiny_champion_root):
    """Masked, right-padded batches: a review's probabilities are the same in a batch of
    one at its own bucket width as in a large mixed batch."""
    classifier = load_classifier(tiny_champion_root, "champion")
    texts = ["great value, works well", "broke after a week, terrible", "it is ok i guess", "love it " * 20, ""] * 8
    ids, lengths = classifier.encode(texts)
    budget_one_row = predict_bucketed(classifier.model, ids, lengths, classifier.buckets, max_tokens=1)
    default = predict_bucketed(classifier.model, ids, lengths, classifier.buckets)
    np.testing.assert_allclose(budget_one_row, default, atol=1e-5)
    np.testing.assert_allclose(default.sum(axis=1), 1.0, atol=1e-5)
    # The finer prediction widths pad less, and change nothing either.
    assert classifier.prediction_widths != classifier.buckets
    np.testing.assert_allclose(predict_bucketed(classifier.model, ids, lengths, classifier.prediction_widths), default, atol=1e-5)
    np.testing.assert_allclose(classifier.predict_proba_ids(ids, lengths), default, atol=1e-5)


def test_prediction_widths_end_at_the_longest_sequence_the_model_reads():
    assert inference_widths(200) == INFERENCE_WIDTHS
    assert inference_widths(50) == (8, 12, 16, 24, 32, 40, 48, 50)
    assert inference_widths(300)[-1] == 300, "a model reading 300 tokens keeps all 300"
    lengths = np.array([1, 9, 199, 250, 300, 301])
    widths = [width for _, width in inference_batches(lengths, inference_widths(300))]
    assert max(widths) == 300 and sorted(widths) == widths


def test_the_attention_explainer_of_one_network_is_the_same_graph(tiny_champion_root):
    """Probabilities and attention weights come from one pass: a second, nested copy of
    the network would run the BiLSTM twice per batch."""
    classifier = load_classifier(tiny_champion_root, "champion")
    explainer = attention_model(classifier.model)
    assert not any(isinstance(layer, keras.Model) for layer in explainer.layers)
    assert {layer.name for layer in explainer.layers} == {layer.name for layer in classifier.model.layers}
    ids, _ = classifier.encode(["great value, works well", "broke after a week, terrible"])
    probabilities, weights = explainer.predict_on_batch(ids)
    np.testing.assert_allclose(probabilities, classifier.model.predict_on_batch(ids), atol=1e-6)
    np.testing.assert_allclose(np.asarray(weights).sum(axis=1), 1.0, atol=1e-5)


def test_token_dropout_replaces_words_by_the_unknown_id_and_leaves_padding_and_batch_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=400)
    ids = np.zeros((400, 64), dtype=np.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(2, 1_000, size=length)
    ids[0, :3] = OOV_ID  # words already unknown stay unknown
    plain = BucketedSequence(ids, lengths, np.zeros(400, dtype=int), np.ones(400), batch_size=32, seed=5)
    dropped = BucketedSequence(ids, lengths, np.zeros(400, dtype=int), np.ones(400), batch_size=32, seed=5, token_dropout=0.2)
    words = replaced = 0
    for index in range(len(plain)):
        original, noisy = plain[index][0], dropped[index][0]
        assert original.shape == noisy.shape, "the same rows in the same order"
        changed = original != noisy
        assert np.all(noisy[changed] == OOV_ID), "a dropped word becomes the unknown id"
        assert np.all(noisy[original == PAD_ID] == PAD_ID), "padding stays padding"
        words += int((original > OOV_ID).sum())
        replaced += int(changed.sum())
    assert 0.17 < replaced / words < 0.23, replaced / words
    assert np.array_equal(plain[0][0], BucketedSequence(ids, lengths, np.zeros(400, dtype=int), np.ones(400), batch_size=32, seed=5)[0][0])
