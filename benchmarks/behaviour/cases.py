"""The behaviour cases: per capability, every filling of its templates with the lexicon's
words, then a sample of ``per_capability`` cases balanced over its labels, the same for
the same seed. Gold labels are the product's classes (`sentiment_model.core.schema.LABELS`)."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from benchmarks.behaviour import lexicon as words
from benchmarks.behaviour.templates import SLOTS, TEMPLATES

DEFAULT_SEED = 13
DEFAULT_PER_CAPABILITY = 60


@dataclass(frozen=True)
class Case:
    capability: str
    text: str
    label: str
    source: str | None = None  # the text before a transform (typos, casing, an appended emoji)


def sentence(text: str) -> str:
    """Every sentence's first letter upper-cased (only it: ``str.capitalize`` lowers the rest)."""
    return re.sub(r"(^|[.?!] )([a-z])", lambda match: match.group(1) + match.group(2).upper(), text)


def filled(capability: str) -> Iterator[tuple[str, str]]:
    """(text, label) for every template of ``capability`` filled with every combination
    of the words its slots name."""
    for name, label, template in TEMPLATES:
        if name != capability:
            continue
        slots = list(dict.fromkeys(re.findall(r"{(\w+)}", template)))
        for values in itertools.product(*(SLOTS[slot] for slot in slots)):
            yield sentence(template.format(**dict(zip(slots, values, strict=True)))), label


def templated(capability: str) -> Callable[[random.Random], Iterator[tuple[str, str]]]:
    return lambda _: filled(capability)


def verdict_at_the_end(rng: random.Random) -> Iterator[tuple[str, str]]:
    """Seven to twelve neutral, descriptive sentences (~60-100 words), then the verdict."""
    for product, (label, verdicts) in itertools.product(words.PRODUCTS, words.LONG_VERDICTS.items()):
        for verdict in verdicts:
            filler = rng.sample(words.FILLER, rng.randint(7, 12))
            yield " ".join([*(line.format(product=product) for line in filler), verdict]), label


def swap_letters(text: str, rng: random.Random) -> str:
    """One typo: two adjacent, different letters of a word of four or more letters swapped."""
    tokens = text.split(" ")
    candidates = [i for i, token in enumerate(tokens) if sum(c.isalpha() for c in token) >= 4]
    index = rng.choice(candidates)
    token = tokens[index]
    positions = [p for p in range(len(token) - 1) if token[p].isalpha() and token[p + 1].isalpha() and token[p] != token[p + 1]]
    p = rng.choice(positions)
    tokens[index] = token[:p] + token[p + 1] + token[p] + token[p + 2 :]
    return " ".join(tokens)


TRANSFORMS: dict[str, Callable[[str, random.Random], str]] = {
    "one typo": swap_letters,
    "two typos": lambda text, rng: swap_letters(swap_letters(text, rng), rng),
    "upper case": lambda text, _: text.upper(),
    "lower case": lambda text, _: text.lower(),
}


def typos_and_casing(rng: random.Random) -> Iterator[Case]:
    for text, label in filled("clear"):
        transform = TRANSFORMS[rng.choice(sorted(TRANSFORMS))]
        changed = transform(text, rng)
        while changed == text:  # two typos can swap the same letters back
            changed = transform(text, rng)
        yield Case("typos and casing", changed, label, source=text)


def emoji(rng: random.Random) -> Iterator[Case]:
    """Emoji that carry the verdict after a neutral event, and emoji appended to a clear text."""
    by_label = {"positive": words.POSITIVE_EMOJI, "negative": words.NEGATIVE_EMOJI}
    for event, product, (label, faces) in itertools.product(words.EVENTS, words.PRODUCTS, by_label.items()):
        for face in faces:
            yield Case("emoji", f"{event.format(product=product)} {face * rng.randint(1, 3)}", label)
    for text, label in filled("clear"):
        yield Case("emoji", f"{text} {rng.choice(by_label[label])}", label, source=text)


CAPABILITIES: dict[str, Callable[[random.Random], Iterator[tuple[str, str]] | Iterator[Case]]] = {
    "vocabulary": templated("vocabulary"),
    "negated positive": templated("negated positive"),
    "negated negative": templated("negated negative"),
    "contrast": templated("contrast"),
    "verdict at the end": verdict_at_the_end,
    "intensifiers and downtoners": templated("intensifiers and downtoners"),
    "neutral and mixed": templated("neutral and mixed"),
    "typos and casing": typos_and_casing,
    "emoji": emoji,
}

# The capabilities that need word order, also read together (issue 32's targets).
WORD_ORDER = ("negated positive", "negated negative", "contrast")


def capability_cases(name: str, seed: int = DEFAULT_SEED, per_capability: int = DEFAULT_PER_CAPABILITY) -> list[Case]:
    """``per_capability`` cases of one capability (fewer only where its templates make
    fewer), as even over its labels as they allow, no text twice."""
    rng = random.Random(f"{seed}:{name}")  # one stream per capability: adding one changes no other
    pool: dict[str, Case] = {}
    for made in CAPABILITIES[name](rng):
        case = made if isinstance(made, Case) else Case(name, *made)
        pool.setdefault(case.text, case)
    by_label: dict[str, list[Case]] = {}
    for case in pool.values():
        by_label.setdefault(case.label, []).append(case)
    chosen: list[Case] = []
    for index, label in enumerate(sorted(by_label)):
        wanted = (per_capability - len(chosen)) // (len(by_label) - index)
        chosen += rng.sample(by_label[label], min(wanted, len(by_label[label])))
    return chosen


def generate(seed: int = DEFAULT_SEED, per_capability: int = DEFAULT_PER_CAPABILITY) -> list[Case]:
    """Every capability's cases, in the order of :data:`CAPABILITIES`."""
    return [case for name in CAPABILITIES for case in capability_cases(name, seed, per_capability)]
