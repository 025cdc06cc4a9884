"""Unlabelled review texts made from training texts, for a teacher to label and a student
to learn from (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into Simple
Neural Networks", section 3.2), plus two rules of our own for word order.

Per word (Tang et al.'s rates 0.1 and 0.1; a word gets at most one of the two):

- masking: the word becomes :data:`MASK_TOKEN`, the teacher's mask token; the student reads
  it as out-of-vocabulary (:func:`for_student`);
- replacement: the word becomes another word of the training text. Tang et al. draw it
  from the unigram distribution of words with the same part-of-speech tag; we have no
  tagger, so it is drawn from the unigram distribution of words of a similar frequency
  (bands of frequency rank, each twice as wide as the one before: "the" becomes "a" or
  "and", "kettle" a word as rare). Function words stay function words, mostly.

Per text, at most one of (the rest of the texts keep their shape):

- n-gram sampling: only a random run of 1-5 tokens is kept (Tang et al.: 0.25);
- negation (ours): an existing "not" / "n't" is removed ("isn't" -> "is"), or "not" is
  inserted after an auxiliary (is, was, are, does, do, ...): the teacher says what that does;
- contrast (ours): a clause of this review and a clause of another review, joined as
  "A, but B" or "although A, B" (B, the verdict, is the other review's).

The texts carry no label. Each rate's draw comes from one generator seeded by ``seed``,
in a fixed order: the same inputs and seed give the same texts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: BERT's mask token: the teacher's tokenizer reads it as one masked word.
MASK_TOKEN = "[MASK]"
#: What :data:`MASK_TOKEN` becomes for the student: our tokenizer keeps "xxunk" as one
#: token, and no vocabulary built from real reviews holds it, so it is the OOV id ("[MASK]"
#: itself would normalize to the word "mask").
STUDENT_MASK = "xxunk"

_TOKEN = re.compile(r"\[MASK\]|[\w'’]+|[^\w\s]")
_WORD = re.compile(r"\w")
_CLAUSE_ENDS = frozenset(".!?;,:")
_AUXILIARIES = frozenset({"is", "was", "are", "were", "am", "does", "do", "did"})
_CONTRACTED = {"can't": "can", "won't": "will", "cannot": "can", "ain't": "is", "shan't": "shall"}
_NGRAM_MAX = 5
# The first frequency band holds the 8 most common words; each next band twice as many.
_FIRST_BAND = 8


def augment(texts: Sequence[str], factor: int, seed: int, *, mask: float, replace: float, ngram: float, negation: float, contrast: float, max_rounds: int = 4) -> list[str]:
    """Up to ``factor`` new texts per input, in input order: the rules above at their rates.
    A candidate equal to any input (after re-spacing), to an earlier output, or without a
    word left is dropped and drawn again, for at most ``max_rounds`` rounds (a one-word
    review may yield fewer)."""
    if factor <= 0 or not texts:
        return []
    tokens = [_TOKEN.findall(text) for text in texts]
    need = np.array([factor if any(_WORD.search(token) for token in own) else 0 for own in tokens], dtype=np.int64)
    if not need.any():
        return []
    vocabulary = _WordBands.of(tokens)
    seen = set(_join(tokens))
    accepted: list[list[str]] = [[] for _ in texts]
    rng = np.random.default_rng(seed)
    for _ in range(max_rounds):
        sources = np.repeat(np.arange(len(texts)), need)
        if not len(sources):
            break
        candidates = _reshaped(tokens, sources, rng, ngram, negation, contrast)
        words, has_content = vocabulary.mask_and_replace(candidates, rng, mask, replace)
        for source, text, content in zip(sources.tolist(), _join(words), has_content.tolist(), strict=True):
            if content and text not in seen:
                seen.add(text)
                accepted[source].append(text)
                need[source] -= 1
    return [text for texts_of_one in accepted for text in texts_of_one]


def for_student(texts: Sequence[str] | pa.Array) -> pa.Array:
    """``texts`` as the student reads them: the teacher's mask token becomes
    :data:`STUDENT_MASK`, an out-of-vocabulary token."""
    return pc.replace_substring(pa.array(texts, type=pa.string()), MASK_TOKEN, f" {STUDENT_MASK} ")


def negated(tokens: list[str], remove: bool, position: float) -> list[str]:
    """``tokens`` with one negation removed (``remove`` and there is one) or "not" inserted
    after an auxiliary; ``position`` in [0, 1) picks which. Unchanged where neither applies."""
    lower = [token.lower().replace("’", "'") for token in tokens]
    negations = [i for i, token in enumerate(lower) if token in ("not", "cannot") or token.endswith("n't")]
    auxiliaries = [i for i, token in enumerate(lower) if token in _AUXILIARIES and i + 1 not in negations]  # not "does not not"
    if negations and (remove or not auxiliaries):
        i = negations[int(position * len(negations))]
        if lower[i] == "not":
            return tokens[:i] + tokens[i + 1 :]
        return tokens[:i] + [_CONTRACTED.get(lower[i], tokens[i][:-3])] + tokens[i + 1 :]
    if auxiliaries:
        i = auxiliaries[int(position * len(auxiliaries))]
        return tokens[: i + 1] + ["not"] + tokens[i + 1 :]
    return tokens


def clauses(tokens: list[str]) -> list[list[str]]:
    """The runs of tokens between clause punctuation (. ! ? ; , :), empty runs left out."""
    found, current = [], []
    for token in tokens:
        if token in _CLAUSE_ENDS:
            if current:
                found.append(current)
            current = []
        else:
            current.append(token)
    return found + [current] if current else found


def contrasted(first: list[str], second: list[str], although: bool) -> list[str]:
    """ "first, but second" or "although first, second": the second clause is the verdict."""
    if although:
        return ["although", *first, ",", *second]
    return [*first, ",", "but", *second]


def _reshaped(tokens: list[list[str]], sources: np.ndarray, rng: np.random.Generator, ngram: float, negation: float, contrast: float) -> list[list[str]]:
    """One candidate token list per entry of ``sources``, each with at most one of the
    per-text rules (n-gram, negation, contrast) applied."""
    n = len(sources)
    rule, size, spot, side, partner, pick_a, pick_b = (rng.random(n) for _ in range(7))
    sizes = 1 + (size * _NGRAM_MAX).astype(np.int64)
    partners = (sources + 1 + (partner * max(1, len(tokens) - 1)).astype(np.int64)) % len(tokens)
    candidates = []
    for i, source in enumerate(sources.tolist()):
        own = tokens[source]
        if rule[i] < ngram:
            start = int(spot[i] * max(1, len(own) - sizes[i] + 1))
            candidates.append(own[start : start + sizes[i]])
        elif rule[i] < ngram + negation:
            candidates.append(negated(own, bool(side[i] < 0.5), spot[i]))
        elif rule[i] < ngram + negation + contrast and len(tokens) > 1:
            first, second = clauses(own), clauses(tokens[partners[i]])
            if first and second:
                candidates.append(contrasted(first[int(pick_a[i] * len(first))], second[int(pick_b[i] * len(second))], bool(side[i] < 0.5)))
            else:
                candidates.append(own)
        else:
            candidates.append(own)
    return candidates


class _WordBands:
    """The words of the training texts (lower case) by frequency, cut into bands of rank;
    per-word masking and replacement over many token lists at once."""

    def __init__(self, words: np.ndarray, counts: np.ndarray) -> None:
        order = np.lexsort((words, -counts))  # most frequent first, ties alphabetical
        self.words, counts = words[order], counts[order]
        self.value_set = pa.array(self.words, type=pa.string())
        self.cumulative = np.cumsum(counts)
        # Per word: its band's first cumulative count, its band's total and its band's last word.
        band = np.floor(np.log2(np.arange(len(counts)) / _FIRST_BAND + 1)).astype(np.int64)
        first = np.searchsorted(band, np.arange(band.max() + 1))
        last = np.append(first[1:], len(band)) - 1
        self.band_floor = np.where(first > 0, self.cumulative[np.maximum(first - 1, 0)], 0)[band]
        self.band_total = self.cumulative[last][band] - self.band_floor
        self.band_last = last[band]

    @classmethod
    def of(cls, tokens: list[list[str]]) -> _WordBands:
        flat = pc.utf8_lower(pa.array([token for text in tokens for token in text if _WORD.search(token)], type=pa.string()))
        counts = pc.value_counts(flat)
        return cls(np.asarray(counts.field("values").to_pylist(), dtype=object), np.asarray(counts.field("counts"), dtype=np.int64))

    def mask_and_replace(self, candidates: list[list[str]], rng: np.random.Generator, mask: float, replace: float) -> tuple[list[list[str]], np.ndarray]:
        """``candidates`` with each known word masked (rate ``mask``) or replaced (rate
        ``replace``), and whether each still holds a word that is not masked."""
        lengths = np.fromiter(map(len, candidates), dtype=np.int64, count=len(candidates))
        flat = np.asarray([token for candidate in candidates for token in candidate], dtype=object)
        known = pc.index_in(pc.utf8_lower(pa.array(flat, type=pa.string())), value_set=self.value_set)
        index = np.asarray(pc.fill_null(known, -1), dtype=np.int64)
        draw, within = rng.random(len(flat)), rng.random(len(flat))
        is_word = index >= 0
        masked = is_word & (draw < mask)
        replaced = is_word & ~masked & (draw < mask + replace)
        chosen = index[replaced]
        target = self.band_floor[chosen] + within[replaced] * self.band_total[chosen]
        flat[replaced] = self.words[np.minimum(np.searchsorted(self.cumulative, target, side="right"), self.band_last[chosen])]
        flat[masked] = MASK_TOKEN
        owner = np.repeat(np.arange(len(candidates)), lengths)
        has_content = np.bincount(owner[is_word & ~masked], minlength=len(candidates)) > 0
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        return [flat[start:end].tolist() for start, end in zip(bounds[:-1], bounds[1:], strict=True)], has_content


def _join(token_lists: list[list[str]]) -> list[str]:
    """Token lists as text: spaces between tokens, none before closing punctuation."""
    joined = pc.binary_join(pa.array(token_lists, type=pa.list_(pa.string())), " ")
    return pc.replace_substring_regex(joined, r"\s+([.,!?;:)])", r"\1").to_pylist()
