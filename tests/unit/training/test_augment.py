"""Augmented texts for the student (training/augment.py): each rule at its rate on a fixed
seed, the same texts for the same seed, never an original, and the negation and contrast
rules doing what they say."""

import numpy as np
import pytest

from sentiment_model.model.text import OOV_ID, Vocabulary, tokenize
from sentiment_model.training.augment import MASK_TOKEN, augment, clauses, contrasted, for_student, negated
from sentiment_model.training.config import TrainConfig

OFF = dict(mask=0.0, replace=0.0, ngram=0.0, negation=0.0, contrast=0.0)


def word_texts(n: int, words: int, seed: int = 0) -> list[str]:
    """``n`` texts of ``words`` words each, drawn from 300 made-up words (Zipf-like)."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"word{i}" for i in range(300)])
    weights = 1 / np.arange(1, 301)
    return [" ".join(rng.choice(vocabulary, words, p=weights / weights.sum())) for _ in range(n)]


def test_masking_and_replacement_fire_at_their_rates_and_keep_the_words_in_place():
    texts = word_texts(200, 40)
    out = augment(texts, 2, seed=5, **{**OFF, "mask": 0.2, "replace": 0.1})
    assert len(out) == 400  # two per text, in input order
    source = np.array([text.split() for text in texts for _ in range(2)])
    words = np.array([text.split() for text in out])
    assert words.shape == source.shape  # per-word rules keep the length
    masked = words == MASK_TOKEN
    replaced = ~masked & (words != source)
    assert masked.mean() == pytest.approx(0.2, abs=0.015)
    # A replacement may draw the word itself (the 8 commonest words share a band): a bit under 0.1.
    assert 0.075 < replaced.mean() <= 0.1
    assert set(words[replaced]) <= set(" ".join(texts).split())  # replacements are training words


def test_ngram_sampling_keeps_a_run_of_one_to_five_tokens_at_its_rate():
    texts = word_texts(500, 40, seed=1)
    out = augment(texts, 1, seed=2, **{**OFF, "mask": 0.1, "ngram": 0.3})
    lengths = np.array([len(text.split()) for text in out])
    short = lengths <= 5
    assert short.mean() == pytest.approx(0.3, abs=0.04)
    assert set(lengths[short]) == {1, 2, 3, 4, 5}
    for text, original in zip(out, texts, strict=True):
        if len(text.split()) <= 5 and MASK_TOKEN not in text:
            assert f" {text} " in f" {original} "  # a run of the original, in order


def test_the_same_seed_gives_the_same_texts_and_never_an_original_an_empty_or_a_repeat():
    texts = [
        "This kettle is great. It boils fast, and the handle doesn't get hot!",
        "Terrible product; it broke after a week.",
        "Great",
        "",
        "!!!",
        "I do like the color but it is not worth the price.",
    ]
    rates = dict(mask=0.1, replace=0.1, ngram=0.25, negation=0.15, contrast=0.15)
    first = augment(texts, 3, seed=7, **rates)
    assert first == augment(texts, 3, seed=7, **rates)
    assert first != augment(texts, 3, seed=8, **rates)
    assert len(first) == len(set(first)) <= 3 * len(texts)
    assert not set(first) & set(texts) and all(text.strip() for text in first)
    assert all(any(ch.isalnum() for ch in text.replace(MASK_TOKEN, "")) for text in first)  # a word is left
    assert augment(["", "!!!"], 3, seed=7, **rates) == [] and augment(texts, 0, seed=7, **rates) == []
    assert augment(["unchanged by any rule"], 2, seed=7, **OFF) == []  # nothing new: nothing returned


@pytest.mark.parametrize(
    ("tokens", "remove", "expected"),
    [
        (["it", "is", "good"], False, ["it", "is", "not", "good"]),
        (["it", "is", "good"], True, ["it", "is", "not", "good"]),  # nothing to remove: inserted
        (["it", "is", "not", "good"], True, ["it", "is", "good"]),
        (["It", "isn't", "good"], True, ["It", "is", "good"]),
        (["I", "don’t", "like", "it"], True, ["I", "do", "like", "it"]),
        (["it", "can't", "boil"], False, ["it", "can", "boil"]),  # no auxiliary to negate: removed
        (["it", "won't", "boil"], True, ["it", "will", "boil"]),
        (["they", "were", "fine", "and", "it", "does", "not", "leak"], False, ["they", "were", "not", "fine", "and", "it", "does", "not", "leak"]),
        (["it", "does", "not", "leak"], False, ["it", "does", "leak"]),  # never "does not not"
        (["great", "value"], True, ["great", "value"]),  # neither: unchanged
    ],
)
def test_negation_inserts_not_after_an_auxiliary_or_removes_a_negation(tokens, remove, expected):
    assert negated(tokens, remove, position=0.0) == expected


def test_negation_through_augment():
    out = augment(["The kettle is good.", "It does not leak."], 1, seed=0, **{**OFF, "negation": 1.0})
    assert out == ["The kettle is not good.", "It does leak."]


def test_contrast_joins_a_clause_of_one_review_with_a_clause_of_another():
    assert clauses(["Great", "kettle", ".", "It", "leaks", "!", ",", "sadly"]) == [["Great", "kettle"], ["It", "leaks"], ["sadly"]]
    assert contrasted(["it", "looks", "nice"], ["it", "leaks"], although=False) == ["it", "looks", "nice", ",", "but", "it", "leaks"]
    assert contrasted(["it", "looks", "nice"], ["it", "leaks"], although=True) == ["although", "it", "looks", "nice", ",", "it", "leaks"]
    out = augment(["The kettle looks nice.", "It broke after a week."], 2, seed=0, **{**OFF, "contrast": 1.0})
    assert set(out[:2]) == {"The kettle looks nice, but It broke after a week", "although The kettle looks nice, It broke after a week"}
    assert set(out[2:]) == {"It broke after a week, but The kettle looks nice", "although It broke after a week, The kettle looks nice"}


def test_the_student_reads_the_mask_as_out_of_vocabulary():
    vocabulary = Vocabulary.build(tokenize(["good mask kettle", "a mask"]), min_count=1)  # "mask" is a word of its own
    ids, lengths = vocabulary.encode(for_student([f"good {MASK_TOKEN} kettle"]), max_length=5)
    assert lengths.tolist() == [3]
    good, kettle = (vocabulary.tokens.index(word) + 2 for word in ("good", "kettle"))
    assert ids[0, :3].tolist() == [good, OOV_ID, kettle]


def test_the_rates_of_one_draw_add_up_to_at_most_one():
    with pytest.raises(ValueError, match="must each be <= 1"):
        TrainConfig(augment_ngram=0.5, augment_negation=0.3, augment_contrast=0.3)
    with pytest.raises(ValueError, match="must each be <= 1"):
        TrainConfig(augment_mask=0.6, augment_replace=0.5)
