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

from sentiment_model.core.settings import SHORT_REVIEW_TOKENS
from sentiment_model.model.sizes import MAX_LENGTH
from sentiment_model.model.text import OOV_ID, Vocabulary, normalize_text, tokenize
from sentiment_model.reporting import chance

#: Probability histograms use this many equal bins on [0, 1].
PROBABILITY_BINS = 10
#: Token-count bin edges of the length distribution (the last bin is open-ended).
LENGTH_EDGES: tuple[int, ...] = (0, 1, 4, 8, 16, 32, 64, 128, MAX_LENGTH, 400)
#: Texts given to the language detector per report (it costs ~50 us a text).
LANGUAGE_SAMPLE = 2_000
#: Reviews tokenized at a time for the input statistics (bounded memory on any day size).
INPUT_STATS_SLICE = 50_000


# --- distribution drift -------------------------------------------------------------------
def population_stability_index(actual: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray) -> float:
    """PSI = sum((a - e) * ln(a / e)) over shares (0.1: watch, 0.25: shifted)."""
    return float(chance.psi(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float))[0])


def js_distance(actual: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray) -> float:
    """Jensen-Shannon distance in base 2: 0 for equal distributions, 1 for disjoint ones."""
    return float(chance.js(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float))[0])


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

    def __init__(self, vocabulary: Vocabulary, max_length: int, short_tokens: int = SHORT_REVIEW_TOKENS, language_sample: int = LANGUAGE_SAMPLE, seed: int = 0) -> None:
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
            "language_sample": len(self.sample_texts),
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
    short_tokens: int = SHORT_REVIEW_TOKENS,
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
    predictions: np.ndarray | None = None,
) -> dict[str, Any]:
    """What the report compares each night with, computed once at training time and stored
    in the model's fingerprint as ``input_reference``: input statistics of the training
    texts and, given the model's probabilities on held-out texts (validation or test), a
    histogram of each class's probability and, given its decisions there (class indices),
    how many it put in each class: the night's predicted shares are compared with these,
    not with the true labels' shares, which the model never reproduces exactly."""
    reference: dict[str, Any] = {"input": input_stats(texts, vocabulary, max_length)}
    if probabilities is not None:
        reference["probability_histograms"] = {name: probability_histogram(probabilities[:, i]) for i, name in enumerate(classes)}
    if predictions is not None:
        counts = np.bincount(np.asarray(predictions, dtype=np.int64), minlength=len(classes))
        reference["predicted_class_counts"] = {name: int(counts[i]) for i, name in enumerate(classes)}
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
    n = min(len(day_texts), len(reference_texts))
    if n < 20:
        return None
    # Imported only when there is something to compare: scikit-learn costs ~2 s of CPU to
    # import, and a first night (or a small one) has no text drift to measure.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

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
    each explanation cost. The words are the largest weights of one ridge fit over every
    word: LIME's default for 6 words or fewer, forward selection, fits a ridge per word
    per step (~600 fits a review, 0.64 s of CPU against 0.04 s, measured)."""
    from lime.lime_text import LimeTextExplainer

    explainer = LimeTextExplainer(class_names=list(classes), split_expression=r"\s+", bow=True, random_state=seed, feature_selection="highest_weights")
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


def macro_f1_present(per_class: list[dict[str, Any]]) -> float:
    """Macro-F1 over the classes the stars contain (a night without 3-star reviews has no
    neutral class to get right)."""
    present = [q["f1"] for q in per_class if q["support"]]
    return float(np.mean(present)) if present else 0.0


def live_quality(confusion: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """A night's quality against the stars from its (true x predicted) counts."""
    matrix = np.asarray(confusion)
    if matrix.sum() == 0:
        return {"rated_reviews": 0}
    per_class = per_class_quality(matrix, classes)
    return {
        "rated_reviews": int(matrix.sum()),
        "macro_f1": macro_f1_present(per_class),
        "accuracy": float(np.trace(matrix) / matrix.sum()),
        "classes_present": [q["class"] for q in per_class if q["support"]],
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }
