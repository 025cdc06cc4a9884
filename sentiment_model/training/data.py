"""Labels, a labelled table's model input and targets, the stratified subsample and the
train/validation/test split.

All pure functions of a table and a seed: the same input gives the same output,
whatever order the rows arrive in.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sentiment_model.core.schema import LABELS, STAR_LABEL_IDS
from sentiment_model.model.text import review_text
from sentiment_model.training.config import SEED

SPLITS: tuple[str, ...] = ("train", "validation", "test")


def label_ids_from_ratings(ratings: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Stars 1-2 -> 0 (negative), 3 -> 1 (neutral), 4-5 -> 2 (positive)."""
    stars = np.asarray(pc.fill_null(ratings, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    if ((stars < 1) | (stars > 5)).any():
        raise ValueError("ratings must all be 1..5 to be labelled")
    return np.asarray(STAR_LABEL_IDS, dtype=np.int64)[stars - 1]


def texts_and_labels(table: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """Model input text (title + body) and label ids of a labelled table."""
    labels = np.asarray(table.column("label_id").to_numpy(), dtype=np.int64)
    return review_text(table.column("title"), table.column("text")), labels


def star_ids(table: pa.Table) -> np.ndarray:
    """Star rating 1-5 as ids 0-4 (the auxiliary head's target)."""
    return np.asarray(pc.fill_null(table.column("rating"), 3).to_numpy(zero_copy_only=False), dtype=np.int64).clip(1, 5) - 1


def add_labels(table: pa.Table) -> pa.Table:
    """Append ``label_id`` (int8) and ``label`` (string) from ``rating``."""
    ids = label_ids_from_ratings(table.column("rating"))
    names = np.array(LABELS, dtype=object)[ids]
    return table.append_column("label_id", pa.array(ids, type=pa.int8())).append_column("label", pa.array(names, type=pa.string()))


def _seeded_order(keys: list[str], seed: int) -> np.ndarray:
    """A pseudo-random permutation of ``keys`` that depends only on each key and the seed."""
    digests = [hashlib.blake2b(f"{seed}\x1f{k}".encode(), digest_size=8).digest() for k in keys]
    values = np.frombuffer(b"".join(digests), dtype=">u8")
    return np.argsort(values, kind="stable")


def stratified_sample(
    table: pa.Table,
    n: int = 9_000,
    seed: int = SEED,
    per_class_cap: dict[str, int] | None = None,
) -> pa.Table:
    """Deterministic stratified subsample of ``n`` rows, keeping class proportions.

    ``per_class_cap`` caps a class (e.g. ``{"positive": 4000}``); the rows it frees are
    not re-distributed, so the result can be smaller than ``n``. Needs a ``label`` column.
    """
    if n >= table.num_rows and not per_class_cap:
        return table
    labels = np.asarray(table.column("label").to_pylist(), dtype=object)
    ids = table.column("review_id").to_pylist()
    total = len(labels)
    quotas: dict[str, int] = {}
    for name in LABELS:
        count = int((labels == name).sum())
        quotas[name] = min(count, round(n * count / total)) if n < total else count
        if per_class_cap and name in per_class_cap:
            quotas[name] = min(quotas[name], per_class_cap[name])
    chosen: list[np.ndarray] = []
    for name in LABELS:
        rows = np.flatnonzero(labels == name)
        if len(rows) == 0 or quotas[name] == 0:
            continue
        order = _seeded_order([ids[i] for i in rows], seed)
        chosen.append(rows[order[: quotas[name]]])
    picked = np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)
    return table.take(pa.array(picked, type=pa.int64()))


def reviews_before(table: pa.Table, day: dt.date) -> pa.Table:
    """Reviews dated before ``day`` (UTC); undated reviews are left out, since nothing
    says they precede it. A time-based cut keeps a model from having seen the reviews
    of the nights it will score."""
    cutoff = pa.scalar(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC), type=table.schema.field("review_time").type)
    return table.filter(pc.fill_null(pc.less(table.column("review_time"), cutoff), False))


def normalized_text_keys(table: pa.Table) -> list[str]:
    """Title + body lower-cased with whitespace collapsed: the identity used to keep one
    text (e.g. a generic "Great product!" posted in several files) inside one split."""
    joined = pc.binary_join_element_wise(pc.fill_null(table.column("title"), ""), pc.fill_null(table.column("text"), ""), " ")
    lowered = pc.utf8_lower(joined)
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(lowered, r"\s+", " ")).to_pylist()


def split_train_validation_test(
    table: pa.Table,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = SEED,
) -> dict[str, pa.Table]:
    """Stratified split by label in which every copy of a normalized text lands in one split.

    Texts are grouped; each group takes its most common label; within each label the
    groups are ordered by a seeded hash and cut at the fractions. Needs ``label``.
    """
    if not 0 <= validation_fraction < 1 or not 0 <= test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise ValueError("fractions must be in [0, 1) and sum to less than 1")
    texts = normalized_text_keys(table)
    labels = table.column("label").to_pylist()
    group_of: dict[str, int] = {}
    group_rows: list[list[int]] = []
    for row, text in enumerate(texts):
        index = group_of.setdefault(text, len(group_rows))
        if index == len(group_rows):
            group_rows.append([])
        group_rows[index].append(row)
    group_texts = list(group_of)
    group_label = [max(set(ls := [labels[r] for r in rows]), key=lambda name: (ls.count(name), name)) for rows in group_rows]
    assignment = np.empty(table.num_rows, dtype=np.int8)
    for name in LABELS:
        groups = [g for g, label in enumerate(group_label) if label == name]
        if not groups:
            continue
        order = _seeded_order([group_texts[g] for g in groups], seed)
        ordered = [groups[i] for i in order]
        sizes = np.cumsum([len(group_rows[g]) for g in ordered])
        total = sizes[-1]
        test_end = np.searchsorted(sizes, round(total * test_fraction), side="left") + (1 if test_fraction else 0)
        validation_end = np.searchsorted(sizes, round(total * (test_fraction + validation_fraction)), side="left") + (1 if validation_fraction else 0)
        for position, g in enumerate(ordered):
            split = 2 if position < test_end else (1 if position < validation_end else 0)
            assignment[group_rows[g]] = split
    return {name: table.filter(pa.array(assignment == i)) for i, name in enumerate(SPLITS)}
