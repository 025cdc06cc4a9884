"""The behaviour suite's cases without a model: enough per capability, the same for a
seed, gold labels the product's, every slot filled, no text twice, and transforms that
change the text but not its label; then the per-capability accuracy table and its
summary line on stand-in predictions."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from benchmarks.behaviour.cases import CAPABILITIES, TRANSFORMS, WORD_ORDER, capability_cases, filled, generate, swap_letters
from benchmarks.behaviour.evaluate import accuracy_rows
from benchmarks.behaviour.templates import SLOTS, TEMPLATES
from benchmarks.report import _behaviour
from sentiment_model.core.schema import LABELS

ISSUE_32 = {
    "vocabulary",
    "negated positive",
    "negated negative",
    "contrast",
    "verdict at the end",
    "intensifiers and downtoners",
    "neutral and mixed",
    "typos and casing",
    "emoji",
}


@pytest.fixture(scope="module")
def cases():
    return generate()


def test_every_capability_of_issue_32_has_50_cases_or_more(cases) -> None:
    counts = Counter(case.capability for case in cases)
    assert set(counts) == set(CAPABILITIES) and ISSUE_32 <= set(counts)
    assert min(counts.values()) >= 50, counts


def test_the_same_seed_gives_the_same_cases_and_another_seed_others(cases) -> None:
    assert generate() == cases
    assert generate(seed=14) != cases
    assert capability_cases("contrast", per_capability=80) != capability_cases("contrast", seed=14, per_capability=80)


def test_gold_labels_are_the_products_classes_and_each_capability_means_its_label(cases) -> None:
    assert {case.label for case in cases} == set(LABELS)
    by_capability = {name: {case.label for case in cases if case.capability == name} for name in CAPABILITIES}
    assert by_capability["negated positive"] == {"negative"}
    assert by_capability["negated negative"] == {"positive"}
    assert by_capability["neutral and mixed"] == {"neutral"}
    assert by_capability["vocabulary"] == by_capability["verdict at the end"] == set(LABELS)
    vocabulary = Counter(case.label for case in cases if case.capability == "vocabulary")
    assert max(vocabulary.values()) - min(vocabulary.values()) <= 1  # balanced over its labels


def test_every_template_names_a_capability_and_known_slots() -> None:
    assert {name for name, _, _ in TEMPLATES} <= {*CAPABILITIES, "clear"}
    assert {label for _, label, _ in TEMPLATES} <= set(LABELS)
    named = {slot for _, _, template in TEMPLATES for slot in re.findall(r"{(\w+)}", template)}
    assert named == set(SLOTS)  # every slot known, and every list used


def test_every_slot_is_filled_and_no_text_repeats(cases) -> None:
    for case in cases:
        assert "{" not in case.text and "}" not in case.text, case
        assert "  " not in case.text and case.text == case.text.strip(), case
    assert len({case.text for case in cases}) == len(cases)


def test_transforms_change_the_text_and_keep_its_label(cases) -> None:
    clear = dict(filled("clear"))
    transformed = [case for case in cases if case.source is not None]
    assert {case.capability for case in transformed} == {"typos and casing", "emoji"}
    for case in transformed:
        assert case.text != case.source and case.label == clear[case.source], case
    for case in (case for case in transformed if case.capability == "typos and casing"):
        assert sorted(case.text.lower()) == sorted(case.source.lower()), case  # the same letters, moved or re-cased
    kinds = {name: transform("This kettle is terrible. I hate it.", random.Random(1)) for name, transform in TRANSFORMS.items()}
    assert kinds["upper case"] == "THIS KETTLE IS TERRIBLE. I HATE IT." and kinds["lower case"] == "this kettle is terrible. i hate it."


def test_a_typo_swaps_two_adjacent_letters_of_one_word() -> None:
    rng = random.Random(3)
    for _ in range(50):
        original = "The kettle is excellent, I love it."
        typo = swap_letters(original, rng)
        differing = [i for i, (a, b) in enumerate(zip(original, typo, strict=True)) if a != b]
        assert len(differing) == 2 and differing[1] == differing[0] + 1
        assert typo[differing[0]] == original[differing[1]] and original[differing[1]].isalpha()


def test_accuracy_rows_count_cases_and_correct_labels_per_capability(cases) -> None:
    def always(label):
        return lambda texts: [label] * len(texts)

    gold = {case.text: case.label for case in cases}
    rows = accuracy_rows(cases, {"says positive": always("positive"), "gold": lambda texts: [gold[text] for text in texts]})
    by_name = {row["capability"]: row for row in rows}
    assert list(by_name) == [*CAPABILITIES, " + ".join(WORD_ORDER), "all"]
    assert by_name["negated negative"]["says positive"] == 1.0 and by_name["negated positive"]["says positive"] == 0.0
    assert all(row["gold"] == 1.0 for row in rows)
    assert by_name["all"]["cases"] == len(cases)
    assert by_name[" + ".join(WORD_ORDER)]["cases"] == sum(by_name[name]["cases"] for name in WORD_ORDER)


def test_the_summary_line_reads_the_word_order_capabilities() -> None:
    def row(name, default, tfidf):
        return {"capability": name, "cases": 60, "network alone": default, "default model": default, "TF-IDF+LR": tfidf}

    rows = [row(name, 0.95, 0.5) for name in CAPABILITIES] + [row(" + ".join(WORD_ORDER), 0.95, 0.5), row("all", 0.9, 0.6)]
    measured, met = _behaviour({"rows": rows})
    assert met == "yes" and "together +0.4500" in measured and "below it: none" in measured
    rows[0] = row("vocabulary", 0.8, 0.9)
    assert _behaviour({"rows": rows}) == (measured.replace("none", "vocabulary"), "no")
    rows[1:4] = [row(name, 0.95, 0.99) for name in list(CAPABILITIES)[1:4]]
    assert _behaviour({"rows": rows})[0].endswith("below it: 4 capabilities")
