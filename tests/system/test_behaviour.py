"""Behavioural tests (Made-With-ML style) on a small BiLSTM trained in this session on
the real corpus: clear cases, negation, invariance to product names, and a fixed slice of
the behaviour benchmark's cases."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_model.core.schema import LABELS
from sentiment_model.ingest.canonical import read_canonical
from sentiment_model.training.data import add_labels, split_train_validation_test, stratified_sample
from sentiment_model.training.train import TrainConfig, train_classifier

pytestmark = pytest.mark.integration

POSITIVE, NEGATIVE = LABELS.index("positive"), LABELS.index("negative")


@pytest.fixture(scope="module")
def small_model(shared_ingest):
    root, _ = shared_ingest
    splits = split_train_validation_test(add_labels(read_canonical(root)), seed=13)
    train = stratified_sample(splits["train"], n=12_000, seed=13)
    validation = stratified_sample(splits["validation"], n=2_000, seed=13)
    config = TrainConfig(frozen_embeddings=None, embeddings="word2vec", ensemble_size=1, embedding_dim=64, lstm_units=32, epochs=2, max_length=120, vocab_size=15_000, batch_size=64, seed=13)
    return train_classifier(train, validation, config, log=lambda _: None).classifier


@pytest.mark.parametrize(
    "text",
    [
        "Terrible. It broke after two days and the seller refused a refund. Total waste of money.",
        "Awful quality, stopped working within a week. Do not buy.",
    ],
)
def test_obviously_negative(small_model, text):
    assert small_model.predict([text]) == ["negative"]


@pytest.mark.parametrize(
    "text",
    [
        "Excellent! Works perfectly, great value, I love it and would buy again.",
        "Great product, fast shipping, highly recommend.",
    ],
)
def test_obviously_positive(small_model, text):
    assert small_model.predict([text]) == ["positive"]


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("I love this charger, it works great.", "I do not love this charger, it does not work."),
        ("This is a good product. I would recommend it.", "This is not a good product. I would not recommend it."),
    ],
)
def test_negation_moves_towards_negative(small_model, plain, negated):
    plain_p, negated_p = small_model.predict_proba([plain, negated])
    assert negated_p[POSITIVE] < plain_p[POSITIVE] - 0.1
    assert negated_p[NEGATIVE] > plain_p[NEGATIVE]


@pytest.mark.parametrize("template", ["The {} headphones sound amazing, best purchase this year.", "My {} kettle leaks everywhere, very disappointed."])
def test_product_names_do_not_change_the_verdict(small_model, template):
    names = ["Sony", "Panasonic", "Philips", "Acme", "Bose"]
    probabilities = small_model.predict_proba([template.format(name) for name in names])
    assert len(set(small_model.decide(probabilities).tolist())) == 1
    assert np.abs(probabilities - probabilities.mean(0)).max() < 0.15


def test_explanation_points_at_sentiment_words(small_model):
    explanation = small_model.explain("Great sound but the battery died after a day, terrible.", top_k=4)
    assert explanation["method"] == "attention"
    assert abs(sum(explanation["probabilities"].values()) - 1) < 1e-4
    tokens = {t["token"] for t in explanation["top_tokens"]}
    assert tokens & {"great", "terrible", "died", "battery"}


# The seed's hand check: four headphone reviews, one of each kind it met (its blog post got
# three right and the "scam" review wrong). The blog's exact wording is not available
# offline; these are written to the same four cases.
HEADPHONE_REVIEWS = [
    ("These headphones are amazing. The sound is crisp, the bass is deep and they are so comfortable. Worth every penny.", "positive"),
    ("Worst headphones I have ever owned. The left side died after a week and the replacement broke too.", "negative"),
    ("This is a scam. What arrived were cheap fake headphones, nothing like the picture. Seller never answered.", "negative"),
    ("Great headphones for the price, good sound and long battery life. I use them every day at the gym.", "positive"),
]


def test_the_seeds_four_headphone_reviews(small_model):
    texts, expected = zip(*HEADPHONE_REVIEWS, strict=True)
    assert small_model.predict(list(texts)) == list(expected)


# A fixed slice of the behaviour benchmark (`python -m benchmarks behaviour`): its easy
# capabilities, 10 cases each. Measured 2026-12-07 on this fixture: 0.8, 0.9 and 0.9 (26 of
# 30); the floors leave room for a cheaper fixture, and still fail a model that reads
# sentiment words no better than chance (about 0.45 here).
BEHAVIOUR_SLICE = ("vocabulary", "intensifiers and downtoners", "typos and casing")
SLICE_FLOOR, CAPABILITY_FLOOR = 0.7, 0.6


def test_a_fixed_slice_of_the_behaviour_suite(small_model):
    from benchmarks.behaviour.cases import capability_cases
    from benchmarks.behaviour.evaluate import accuracy_rows

    cases = [case for name in BEHAVIOUR_SLICE for case in capability_cases(name, per_capability=10)]
    rows = accuracy_rows(cases, {"small model": small_model.predict})
    accuracy = {row["capability"]: row["small model"] for row in rows}
    read = small_model.predict([case.text for case in cases])
    misses = [f"{case.text!r} read {label}, is {case.label}" for case, label in zip(cases, read, strict=True) if label != case.label]
    assert accuracy["all"] >= SLICE_FLOOR and min(accuracy[name] for name in BEHAVIOUR_SLICE) >= CAPABILITY_FLOOR, (accuracy, misses)
