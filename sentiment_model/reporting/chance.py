"""What chance alone gives a monitored statistic on a night of a given size.

A fixed effect-size threshold ignores sample size: on 77 reviews a histogram's JS distance
is large by chance alone. So every statistic also gets a *chance level*: the
``quantile`` of its distribution when nothing changed, at the night's size. A signal
fires only above both (``sentiment_model.reporting.signals``).

- Distributions (class shares, probability histograms, star ratings, and a share such as
  OOV or duplicates as a two-bin count): a two-sample parametric bootstrap. The night and
  the reference are drawn again, at their own sizes, from the reference's shares, and the
  statistic is computed between the draws. Sizes are rounded *down* to an eighth-octave
  grid (a smaller night has a higher chance level, so the rounding errs towards silence)
  and the result is cached per reference and size bucket.
- The text domain classifier's AUC: the Mann-Whitney null of an AUC, normal approximation.
- Live F1 against the stars: the model's test confusion rows, drawn again at the night's
  per-class support.

Pure numpy; deterministic (fixed seed)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

#: Draws per bootstrap: the default 99.95th percentile rests on the top 5 of them.
RESAMPLES = 10_000
#: Shares below this are clipped before a log (PSI), so an empty bin is not infinite.
EPSILON = 1e-4
#: Pseudo-count per bin of the reference's shares in the null: a bin the reference never
#: filled can still be filled by chance.
PSEUDO_COUNT = 0.5


# --- the statistics, on one pair or on a stack of pairs (rows) ---------------------------
def _rows(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(counts, dtype=float)
    return values[None, :] if values.ndim == 1 else values


def psi(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Population stability index per row: sum((a - e) * ln(a / e)) over clipped shares."""
    a, e = (np.clip(_rows(x), EPSILON, None) for x in (actual, expected))
    a, e = a / a.sum(1, keepdims=True), e / e.sum(1, keepdims=True)
    return np.sum((a - e) * np.log(a / e), axis=1)


def js(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2, 0..1) per row."""
    a, e = _rows(actual), _rows(expected)
    a, e = a / np.maximum(a.sum(1, keepdims=True), 1e-300), e / np.maximum(e.sum(1, keepdims=True), 1e-300)
    m = (a + e) / 2

    def kl(p: np.ndarray) -> np.ndarray:
        safe = np.where(p > 0, p, 1.0)
        return np.sum(np.where(p > 0, p * np.log2(safe / np.where(m > 0, m, 1.0)), 0.0), axis=1)

    return np.sqrt(np.maximum(0.0, (kl(a) + kl(e)) / 2))


def share_sd(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Standard deviation of each category's share difference when both sides share one
    distribution (pooled shares), per row and category."""
    a, e = _rows(actual), _rows(expected)
    na, ne = a.sum(1, keepdims=True), e.sum(1, keepdims=True)
    pooled = (a + e) / (na + ne)
    return np.sqrt(pooled * (1 - pooled) * (1 / na + 1 / ne))


def share_z(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Largest standardized share change per row: a rare class's 8 points weigh more than
    a common class's, as chance moves it less."""
    a, e = _rows(actual), _rows(expected)
    change = np.abs(a / a.sum(1, keepdims=True) - e / e.sum(1, keepdims=True))
    return np.max(change / np.maximum(share_sd(a, e), 1e-9), axis=1)


def share_increase(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Rise of the first bin's share (a two-bin count: [hits, misses]), per row."""
    a, e = _rows(actual), _rows(expected)
    return a[:, 0] / a.sum(1) - e[:, 0] / e.sum(1)


STATISTICS = {"psi": psi, "js_distance": js, "share_z": share_z, "share_increase": share_increase}


# --- chance levels ----------------------------------------------------------------------
def size_bucket(n: int) -> int:
    """``n`` rounded down to an eighth-octave grid (steps of 9%: 256, 279, 304, ...)."""
    if n <= 0:
        return 0
    return max(1, math.floor(2 ** (math.floor(8 * math.log2(n) + 1e-9) / 8)))


def distribution_chance(day_size: int, reference: Sequence[float], quantile: float) -> dict[str, float]:
    """The ``quantile`` of every statistic in :data:`STATISTICS` between a night of
    ``day_size`` counts and a reference of ``sum(reference)`` counts, both drawn from the
    reference's shares. Empty when either side has no counts."""
    counts = tuple(int(round(c)) for c in reference)
    if day_size <= 0 or sum(counts) <= 0:
        return {}
    return dict(_bootstrap(counts, size_bucket(day_size), size_bucket(sum(counts)), quantile))


@functools.lru_cache(maxsize=4096)
def _bootstrap(reference: tuple[int, ...], day_size: int, reference_size: int, quantile: float) -> tuple[tuple[str, float], ...]:
    rng = np.random.default_rng(0)
    shares = (np.asarray(reference, dtype=float) + PSEUDO_COUNT) / (sum(reference) + PSEUDO_COUNT * len(reference))
    day = rng.multinomial(day_size, shares, size=RESAMPLES)
    ref = rng.multinomial(reference_size, shares, size=RESAMPLES)
    return tuple((name, float(np.quantile(statistic(day, ref), quantile))) for name, statistic in STATISTICS.items())


def share_chance(day_size: int, reference_share: float, reference_size: int, quantile: float) -> float | None:
    """Chance level of a share's rise (``share_increase``) at these sizes."""
    if day_size <= 0 or reference_size <= 0:
        return None
    hits = reference_share * reference_size
    return distribution_chance(day_size, (hits, reference_size - hits), quantile).get("share_increase")


def auc_chance(day_size: int, reference_size: int, quantile: float) -> float | None:
    """The ``quantile`` of a two-sample AUC when both sides come from one distribution
    (Mann-Whitney: mean 0.5, variance (n1 + n2 + 1) / (12 n1 n2))."""
    if day_size <= 0 or reference_size <= 0:
        return None
    sd = math.sqrt((day_size + reference_size + 1) / (12 * day_size * reference_size))
    return 0.5 + NormalDist().inv_cdf(quantile) * sd


def f1_chance(test_confusion: Sequence[Sequence[float]], day_support: Sequence[int], quantile: float) -> dict[str, list[float] | float] | None:
    """Per-class F1 and macro-F1 (over the classes with support) that the model reaches with
    probability ``1 - quantile`` or less on a night of these per-class supports when it
    behaves as on its test split: each true class's predictions drawn from its test
    confusion row. None without a usable confusion matrix."""
    matrix = np.asarray(test_confusion, dtype=float)
    support = np.asarray(day_support, dtype=np.int64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(support) or support.sum() == 0:
        return None
    rows = matrix.sum(1, keepdims=True)
    if np.any(rows[support > 0] == 0):
        return None
    behaviour = np.divide(matrix, rows, out=np.full_like(matrix, 1 / len(matrix)), where=rows > 0)
    rng = np.random.default_rng(0)
    draws = np.stack([rng.multinomial(s, behaviour[c], size=RESAMPLES) for c, s in enumerate(support)], axis=1)  # (B, true, predicted)
    tp = np.diagonal(draws, axis1=1, axis2=2).astype(float)
    predicted, actual = draws.sum(1), draws.sum(2)
    f1 = np.divide(2 * tp, predicted + actual, out=np.zeros_like(tp), where=(predicted + actual) > 0)
    present = support > 0
    macro = f1[:, present].mean(1)
    low = 1 - quantile
    return {"per_class": np.quantile(f1, low, axis=0).tolist(), "macro": float(np.quantile(macro, low))}
