"""What changed in a night's reviews, and why: effect-size drift, input health against the
frozen vocabulary, text drift with the tokens behind it, model-agnostic explanations,
live quality per class, and the alerts these raise. Pure functions over arrays and
tables (the report reads the data; nothing here does I/O)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sentiment_model.core.settings import ReportThresholds
from sentiment_model.model.text import OOV_ID, Vocabulary, normalize_text, tokenize

_EPSILON = 1e-4
#: Probability histograms use this many equal bins on [0, 1].
PROBABILITY_BINS = 10
#: Token-count bin edges of the length distribution (the last bin is open-ended).
LENGTH_EDGES: tuple[int, ...] = (0, 1, 4, 8, 16, 32, 64, 128, 200, 400)
#: Texts given to the language detector per report (it costs ~50 us a text).
LANGUAGE_SAMPLE = 2_000
#: Reviews tokenized at a time for the input statistics (bounded memory on any day size).
INPUT_STATS_SLICE = 50_000


# --- distribution drift -------------------------------------------------------------------
def _shares(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.clip(np.asarray(counts, dtype=float), _EPSILON, None)
    return values / values.sum()


def population_stability_index(actual: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray) -> float:
    """PSI = sum((a - e) * ln(a / e)) over shares (0.1: watch, 0.25: shifted)."""
    a, e = _shares(actual), _shares(expected)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(actual: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray) -> float:
    """Jensen-Shannon distance in base 2: 0 for equal distributions, 1 for disjoint ones."""
    a = np.asarray(actual, dtype=float)
    e = np.asarray(expected, dtype=float)
    a, e = a / a.sum(), e / e.sum()
    m = (a + e) / 2

    def kl(p: np.ndarray) -> float:
        nonzero = p > 0
        return float(np.sum(p[nonzero] * np.log2(p[nonzero] / m[nonzero])))

    return float(np.sqrt(max(0.0, (kl(a) + kl(e)) / 2)))


def distribution_drift(actual: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray | None) -> dict[str, float] | None:
    """PSI and JS distance of two count vectors; None when either side has no data (a
    reference of zeros is no reference: PSI against it would be a made-up number)."""
    if expected is None or np.sum(expected) <= 0 or np.sum(actual) <= 0:
        return None
    return {"psi": population_stability_index(actual, expected), "js_distance": js_distance(actual, expected)}


def probability_histogram(probabilities: np.ndarray, bins: int = PROBABILITY_BINS) -> list[int]:
    """Counts of one class's probabilities in ``bins`` equal bins of [0, 1]."""
    index = np.minimum((np.asarray(probabilities, dtype=float) * bins).astype(np.int64), bins - 1)
    return np.bincount(index, minlength=bins).tolist()


# --- input health -------------------------------------------------------------------------
def _language_codes(texts: Sequence[str]) -> list[str]:
    import py3langid

    return [py3langid.classify(text)[0] for text in texts]


class InputStatsAccumulator:
    """Input statistics over texts added a slice at a time, so a day of any size is measured
    in bounded memory: per-review token counts (8 bytes a review), the OOV count, and a
    uniform random sample of worded reviews for the language detector (the
    ``language_sample`` smallest random keys seen so far)."""

    def __init__(self, vocabulary: Vocabulary, max_length: int, short_tokens: int = 3, language_sample: int = LANGUAGE_SAMPLE, seed: int = 0) -> None:
        self.vocabulary, self.max_length, self.short_tokens, self.language_sample = vocabulary, max_length, short_tokens, language_sample
        self.rng = np.random.default_rng(seed)
        self.lengths: list[np.ndarray] = []
        self.oov_tokens = 0
        self.sample_keys = np.zeros(0)
        self.sample_texts: list[str] = []

    def add(self, texts: pa.Array | pa.ChunkedArray) -> None:
        # In slices: the tokens of a whole 1M-review day (~67M strings and their ids) took
        # 2 GB on top of the nightly flow; a slice's take tens of MB.
        for start in range(0, len(texts), INPUT_STATS_SLICE):
            part = texts.slice(start, INPUT_STATS_SLICE)
            part = part.combine_chunks() if isinstance(part, pa.ChunkedArray) else part
            tokens = tokenize(part)
            lengths = np.asarray(pc.list_value_length(tokens).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
            self.lengths.append(lengths)
            ids, _ = self.vocabulary.lookup(tokens)
            self.oov_tokens += int((ids == OOV_ID).sum())
            if self.language_sample:
                self._sample_languages(part, np.flatnonzero(lengths > self.short_tokens))

    def _sample_languages(self, part: pa.Array, worded: np.ndarray) -> None:
        keys = self.rng.random(len(worded))
        kept = np.argsort(keys)[: self.language_sample]
        candidate_keys = np.concatenate([self.sample_keys, keys[kept]])
        candidate_texts = self.sample_texts + normalize_text(pc.take(part, pa.array(worded[kept], pa.int64()))).to_pylist()
        best = np.argsort(candidate_keys, kind="stable")[: self.language_sample]
        self.sample_keys, self.sample_texts = candidate_keys[best], [candidate_texts[i] for i in best]

    def result(self) -> dict[str, Any]:
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, dtype=np.int64)
        n = len(lengths)
        if n == 0:
            return {"reviews": 0}
        total_tokens = int(lengths.sum())
        language_share = float(np.mean([code != "en" for code in _language_codes(self.sample_texts)])) if self.sample_texts else None
        return {
            "reviews": int(n),
            "tokens": total_tokens,
            "oov_share": self.oov_tokens / total_tokens if total_tokens else 0.0,
            "truncated_share": float(np.mean(lengths > self.max_length)),
            "empty_share": float(np.mean(lengths == 0)),
            "short_share": float(np.mean(lengths <= self.short_tokens)),
            "non_english_share": language_share,
            "length_quantiles": {f"p{q}": float(np.percentile(lengths, q)) for q in (10, 50, 90, 99)},
            "length_mean": float(lengths.mean()),
            "length_histogram": np.histogram(np.minimum(lengths, LENGTH_EDGES[-1]), bins=[*LENGTH_EDGES, LENGTH_EDGES[-1] + 1])[0].tolist(),
            "max_length": int(self.max_length),
            "short_tokens": int(self.short_tokens),
        }


def input_stats(
    texts: pa.Array | pa.ChunkedArray | Sequence[str],
    vocabulary: Vocabulary,
    max_length: int,
    short_tokens: int = 3,
    language_sample: int = LANGUAGE_SAMPLE,
    seed: int = 0,
) -> dict[str, Any]:
    """How the reviews look to the frozen model: out-of-vocabulary token share, share cut at
    ``max_length``, token-count distribution, empty and very short reviews, and the share
    of a sample that a language detector does not call English."""
    accumulator = InputStatsAccumulator(vocabulary, max_length, short_tokens, language_sample, seed)
    accumulator.add(pa.array(texts, type=pa.string()) if not isinstance(texts, (pa.Array, pa.ChunkedArray)) else texts)
    return accumulator.result()


def training_reference(
    texts: pa.Array | Sequence[str],
    vocabulary: Vocabulary,
    max_length: int,
    probabilities: np.ndarray | None = None,
    classes: Sequence[str] = (),
) -> dict[str, Any]:
    """What the report compares each night with, computed once at training time and stored
    in the model's fingerprint as ``input_reference``: input statistics of the training
    texts and, given the model's probabilities on held-out texts (validation or test), a
    histogram of each class's probability."""
    reference: dict[str, Any] = {"input": input_stats(texts, vocabulary, max_length)}
    if probabilities is not None:
        reference["probability_histograms"] = {name: probability_histogram(probabilities[:, i]) for i, name in enumerate(classes)}
    return reference


def input_health_rows(day: dict[str, Any], references: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """One row per measure: the day beside each reference that exists."""
    measures = ("oov_share", "truncated_share", "empty_share", "short_share", "non_english_share", "length_mean")
    rows = []
    for measure in measures:
        row: dict[str, Any] = {"measure": measure, "day": day.get(measure)}
        for name, reference in references.items():
            row[name] = None if not reference else reference.get(measure)
        rows.append(row)
    return rows


# --- text drift ---------------------------------------------------------------------------
def text_drift(day_texts: Sequence[str], reference_texts: Sequence[str], top_k: int = 12, seed: int = 0) -> dict[str, Any] | None:
    """A domain classifier (TF-IDF + logistic regression) told to separate the day's reviews
    from the reference window's. Its cross-validated ROC AUC is the drift score (0.5: the
    same kind of text); its largest coefficients are the tokens that say "today" (or
    "reference"). None when either side has too few reviews to cross-validate."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n = min(len(day_texts), len(reference_texts))
    if n < 20:
        return None
    rng = np.random.default_rng(seed)
    day = [day_texts[i] for i in rng.choice(len(day_texts), n, replace=False)]
    reference = [reference_texts[i] for i in rng.choice(len(reference_texts), n, replace=False)]
    documents = [" ".join(tokens) for tokens in tokenize([*day, *reference]).to_pylist()]
    target = np.r_[np.ones(n), np.zeros(n)]
    vectorizer = TfidfVectorizer(token_pattern=r"\S+", min_df=3, max_features=20_000, sublinear_tf=True)
    features = vectorizer.fit_transform(documents)
    classifier = LogisticRegression(C=1.0, max_iter=500)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    scores = cross_val_predict(classifier, features, target, cv=folds, method="predict_proba")[:, 1]
    classifier.fit(features, target)
    names = vectorizer.get_feature_names_out()
    weights = classifier.coef_[0]
    order = np.argsort(weights)
    day_share = np.asarray((features[:n] > 0).mean(0)).ravel()
    reference_share = np.asarray((features[n:] > 0).mean(0)).ravel()

    def described(indices: np.ndarray) -> list[dict[str, Any]]:
        return [{"token": str(names[i]), "weight": float(weights[i]), "day_share": float(day_share[i]), "reference_share": float(reference_share[i])} for i in indices]

    return {
        "auc": float(roc_auc_score(target, scores)),
        "reviews_per_side": int(n),
        "day_tokens": described(order[::-1][:top_k][weights[order[::-1][:top_k]] > 0]),
        "reference_tokens": described(order[:top_k][weights[order[:top_k]] < 0]),
    }


# --- explanations -------------------------------------------------------------------------
def lime_explanations(
    predict_proba: Callable[[list[str]], np.ndarray],
    texts: Sequence[str],
    classes: Sequence[str],
    explained_class: int = 0,
    num_samples: int = 300,
    num_features: int = 6,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """LIME's text explainer on each text (normalized, so LIME's words are the model's
    tokens): the words that push ``classes[explained_class]`` up or down, and the seconds
    each explanation cost."""
    from lime.lime_text import LimeTextExplainer

    explainer = LimeTextExplainer(class_names=list(classes), split_expression=r"\s+", bow=True, random_state=seed)
    out = []
    for text in normalize_text(list(texts)).to_pylist():
        started = time.perf_counter()
        explanation = explainer.explain_instance(" ".join(text.split()) or "[UNK]", predict_proba, labels=(explained_class,), num_features=num_features, num_samples=num_samples)
        seconds = time.perf_counter() - started
        out.append({"weights": [{"token": token, "weight": float(weight)} for token, weight in explanation.as_list(label=explained_class)], "seconds": seconds})
    return out


# --- live quality -------------------------------------------------------------------------
def per_class_quality(confusion: np.ndarray, classes: Sequence[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support per class from a (true x predicted) count matrix."""
    matrix = np.asarray(confusion, dtype=float)
    tp = np.diag(matrix)
    predicted, support = matrix.sum(0), matrix.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros(len(tp)), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(len(tp)), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(tp)), where=(precision + recall) > 0)
    return [
        {"class": name, "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i]), "predicted": int(predicted[i])} for i, name in enumerate(classes)
    ]


# --- alerts -------------------------------------------------------------------------------
def _alert(kind: str, name: str, value: float, threshold: float, message: str) -> dict[str, Any]:
    return {"kind": kind, "name": name, "value": float(value), "threshold": float(threshold), "message": message}


def drift_alerts(drift: dict[str, Any], thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """Class-share and probability-histogram drift at or above the PSI / JS thresholds."""
    alerts = []
    for reference in ("trailing", "training"):
        measured = drift.get("class_shares", {}).get(reference)
        if measured:
            alerts += _effect_alerts(f"class shares vs {reference}", measured, thresholds)
        for name, measured in (drift.get("probabilities", {}).get(reference) or {}).items():
            alerts += _effect_alerts(f"p({name}) histogram vs {reference}", measured, thresholds)
    return alerts


def _effect_alerts(what: str, measured: dict[str, float], thresholds: ReportThresholds) -> list[dict[str, Any]]:
    alerts = []
    if measured["psi"] >= thresholds.psi:
        alerts.append(_alert("drift", f"{what}: PSI", measured["psi"], thresholds.psi, f"{what}: PSI {measured['psi']:.3f} >= {thresholds.psi}"))
    if measured["js_distance"] >= thresholds.js_distance:
        alerts.append(_alert("drift", f"{what}: JS distance", measured["js_distance"], thresholds.js_distance, f"{what}: JS distance {measured['js_distance']:.3f} >= {thresholds.js_distance}"))
    return alerts


def text_drift_alerts(drift: dict[str, Any] | None, thresholds: ReportThresholds) -> list[dict[str, Any]]:
    if not drift or drift["auc"] < thresholds.text_drift_auc:
        return []
    tokens = ", ".join(t["token"] for t in drift["day_tokens"][:5])
    return [
        _alert(
            "drift",
            "text: domain classifier AUC",
            drift["auc"],
            thresholds.text_drift_auc,
            f"text drift: day vs reference AUC {drift['auc']:.3f} >= {thresholds.text_drift_auc} (today's tokens: {tokens})",
        )
    ]


def input_health_alerts(day: dict[str, Any], reference: dict[str, Any] | None, reference_name: str, thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """Input measures that rose above the reference by more than their threshold."""
    if not reference or not day.get("reviews"):
        return []
    limits = {
        "oov_share": thresholds.oov_share_increase,
        "truncated_share": thresholds.truncated_share_increase,
        "short_share": thresholds.short_share_increase,
        "non_english_share": thresholds.non_english_share_increase,
    }
    alerts = []
    for measure, limit in limits.items():
        today, before = day.get(measure), reference.get(measure)
        if today is None or before is None:
            continue
        if today - before > limit:
            alerts.append(_alert("input_health", f"{measure} vs {reference_name}", today - before, limit, f"{measure} {today:.3f} vs {reference_name} {before:.3f} (+{today - before:.3f} > {limit})"))
    return alerts


def quality_alerts(live: dict[str, Any], expected: dict[str, Any] | None, thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """Live F1 against the stars below the model's test F1 by more than ``f1_drop``: per
    class with enough rated reviews, and macro when every class has enough."""
    if not expected or not live.get("rated_reviews"):
        return []
    alerts = []
    per_class = live.get("per_class", [])
    judged = [row for row in per_class if row["support"] >= thresholds.min_rated_per_class]
    for row in judged:
        test_f1 = (expected.get("per_class") or {}).get(row["class"], {}).get("f1")
        if test_f1 is not None and test_f1 - row["f1"] > thresholds.f1_drop:
            alerts.append(
                _alert("live_quality", f"F1 {row['class']}", row["f1"], test_f1 - thresholds.f1_drop, f"live F1 of {row['class']} {row['f1']:.3f} vs test {test_f1:.3f} (drop > {thresholds.f1_drop})")
            )
    test_macro = expected.get("macro_f1")
    if per_class and len(judged) == len(per_class) and test_macro is not None and test_macro - live["macro_f1"] > thresholds.f1_drop:
        alerts.append(
            _alert("live_quality", "macro-F1", live["macro_f1"], test_macro - thresholds.f1_drop, f"live macro-F1 {live['macro_f1']:.3f} vs test {test_macro:.3f} (drop > {thresholds.f1_drop})")
        )
    return alerts
