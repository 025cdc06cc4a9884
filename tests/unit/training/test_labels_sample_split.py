"""Labels, the stratified subsample and the split: determinism, proportions, no leakage."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from sentiment_model.training.data import (
    add_labels,
    label_ids_from_ratings,
    normalized_text_keys,
    split_train_validation_test,
    stratified_sample,
)


def reviews(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ratings = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.08, 0.05, 0.08, 0.19, 0.60])
    texts = [f"review number {i}" if i % 10 else "Great product!" for i in range(n)]  # a generic text repeats
    return add_labels(
        pa.table(
            {
                "review_id": [f"{i:032x}" for i in range(n)],
                "rating": pa.array(ratings, type=pa.int8()),
                "title": [""] * n,
                "text": texts,
            }
        )
    )


def test_stars_map_to_three_classes():
    assert label_ids_from_ratings(pa.array([1, 2, 3, 4, 5], pa.int8())).tolist() == [0, 0, 1, 2, 2]
    with pytest.raises(ValueError):
        label_ids_from_ratings(pa.array([0, 6]))


def test_sample_is_deterministic_stratified_and_order_independent():
    table = reviews(5_000)
    sample = stratified_sample(table, n=1_000, seed=7)
    assert abs(sample.num_rows - 1_000) <= 3
    shuffled = table.take(pa.array(np.random.default_rng(1).permutation(table.num_rows)))
    again = stratified_sample(shuffled, n=1_000, seed=7)
    assert sorted(sample.column("review_id").to_pylist()) == sorted(again.column("review_id").to_pylist())
    full = Counter(table.column("label").to_pylist())
    part = Counter(sample.column("label").to_pylist())
    for name, count in full.items():
        assert abs(part[name] / sample.num_rows - count / table.num_rows) < 0.01
    assert stratified_sample(table, n=1_000, seed=8).column("review_id").to_pylist() != sample.column("review_id").to_pylist()


def test_sample_caps_a_class():
    sample = stratified_sample(reviews(5_000), n=2_000, seed=7, per_class_cap={"positive": 300})
    assert Counter(sample.column("label").to_pylist())["positive"] == 300


def test_split_keeps_each_text_in_one_split_and_stratifies():
    table = reviews(6_000)
    splits = split_train_validation_test(table, validation_fraction=0.1, test_fraction=0.1, seed=3)
    assert sum(t.num_rows for t in splits.values()) == table.num_rows
    keys = {name: set(normalized_text_keys(t)) for name, t in splits.items()}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["validation"] and not keys["validation"] & keys["test"]
    for name in ("validation", "test"):
        counts = Counter(splits[name].column("label").to_pylist())
        for label in ("negative", "neutral"):
            share = counts[label] / splits[name].num_rows
            overall = Counter(table.column("label").to_pylist())[label] / table.num_rows
            assert abs(share - overall) < 0.04
    again = split_train_validation_test(table.take(pa.array(np.arange(table.num_rows)[::-1])), seed=3)
    assert set(again["test"].column("review_id").to_pylist()) == set(splits["test"].column("review_id").to_pylist())


def test_split_rejects_bad_fractions():
    with pytest.raises(ValueError):
        split_train_validation_test(reviews(10), validation_fraction=0.6, test_fraction=0.5)
