"""The monitor measured (`python -m benchmarks monitoring`): how often it cries wolf, and
whether it sees real incidents on their first night.

A small model (the demo's: one network, 2 epochs, 9K reviews) is trained on the shared
corpus without the SNAP fine-food reviews, and every other review it did not train on is
scored once: that pool is "one unchanged distribution". Nights are drawn from the pool at
50, 300, 3,000 and 30,000 reviews, after 30 warm-up nights that fill the trailing window,
and go through the report's own monitor (``signals.assess`` and
``incidents.open_incidents``) with the report's input statistics and text drift:

- stable nights: every new incident is a false one;
- injected incidents, each from a stable night's trailing window on, for three nights:
  negative share +8 points, a new product category (30% food reviews, a catalog the model
  never saw), 10% non-English reviews, reviews cut to 3 words, a broken champion (its
  class labels shuffled), every star rating 5, and every review sent twice. The table
  gives the night each was detected and the signal that said so.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.common import shared_root
from benchmarks.quality import FAMILIES
from sentiment_model.core.schema import LABELS, STAR_LABEL_IDS
from sentiment_model.core.settings import ReportThresholds
from sentiment_model.reporting import incidents, monitoring, signals

SIZES = (50, 300, 3_000, 30_000)
WARM_UP = 30  # the report's default trailing window
NEW_CATEGORY = "SNAP fine foods"
INCIDENT_NIGHTS = 3
#: Templated reviews in five languages (written here, not drawn from any corpus).
_FOREIGN = {
    "es": ("el {n} es {a}, {v}", ["cargador", "cable", "reloj", "altavoz"], ["muy bueno", "terrible", "normal", "excelente"], ["lo recomiendo", "no lo compraría otra vez", "llegó tarde"]),
    "de": ("das {n} ist {a}, {v}", ["Ladegerät", "Kabel", "Uhr", "Lautsprecher"], ["sehr gut", "schrecklich", "in Ordnung", "ausgezeichnet"], ["ich empfehle es", "nie wieder", "kam zu spät an"]),
    "fr": ("le {n} est {a}, {v}", ["chargeur", "câble", "montre", "haut-parleur"], ["très bien", "horrible", "correct", "excellent"], ["je le recommande", "plus jamais", "arrivé en retard"]),
    "it": ("il {n} è {a}, {v}", ["caricatore", "cavo", "orologio", "altoparlante"], ["molto buono", "terribile", "normale", "eccellente"], ["lo consiglio", "mai più", "arrivato in ritardo"]),
    "pt": ("o {n} é {a}, {v}", ["carregador", "cabo", "relógio", "alto-falante"], ["muito bom", "terrível", "normal", "excelente"], ["recomendo", "nunca mais", "chegou atrasado"]),
}


def foreign_reviews(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        template, nouns, adjectives, verdicts = list(_FOREIGN.values())[i % len(_FOREIGN)]
        sentence = template.format(n=rng.choice(nouns), a=rng.choice(adjectives), v=rng.choice(verdicts))
        out.append(f"{sentence}. {template.format(n=rng.choice(nouns), a=rng.choice(adjectives), v=rng.choice(verdicts))}")
    return out


@dataclass
class Scored:
    """Reviews scored once: texts, stars, decided classes and probabilities."""

    texts: list[str]
    ratings: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray

    @classmethod
    def of(cls, classifier: Any, texts: list[str], ratings: np.ndarray) -> Scored:
        probabilities = np.asarray(classifier.predict_proba(texts))
        return cls(texts, np.asarray(ratings, dtype=np.int64), np.asarray(classifier.decide(probabilities)), probabilities)

    def take(self, rows: np.ndarray) -> Scored:
        return Scored([self.texts[i] for i in rows], self.ratings[rows], self.predicted[rows], self.probabilities[rows])

    @staticmethod
    def concat(parts: list[Scored]) -> Scored:
        return Scored([t for p in parts for t in p.texts], np.concatenate([p.ratings for p in parts]), np.concatenate([p.predicted for p in parts]), np.concatenate([p.probabilities for p in parts]))


@dataclass
class Night:
    scored: Scored
    rows: int
    duplicates: int = 0


class Monitor:
    """The report's monitor over nights given as arrays (no files): the same measures,
    signals and incidents the nightly report computes."""

    def __init__(self, classifier: Any, test_metrics: dict[str, Any], training: signals.Measures, thresholds: ReportThresholds) -> None:
        self.classifier, self.test_metrics, self.training, self.thresholds = classifier, test_metrics, training, thresholds

    def counts(self, night: Night) -> signals.Measures:
        s = night.scored
        stars = np.bincount(s.ratings, minlength=6)
        return signals.Measures(
            class_counts={label: int((s.predicted == i).sum()) for i, label in enumerate(LABELS)},
            probability_histograms={label: monitoring.probability_histogram(s.probabilities[:, i]) for i, label in enumerate(LABELS)},
            rating_counts={star: int(stars[star]) for star in range(1, 6) if stars[star]},
            rows=night.rows,
            duplicates=night.duplicates,
        )

    def assess(self, night: Night, window: list[Night], earlier: list[list[dict[str, Any]]], day: Any, rng: np.random.Generator) -> tuple[list[dict], list[dict]]:
        """The night's signals and incidents; ``earlier``: the incidents of the nights
        before, newest first (as the report reads them from past summaries)."""
        t = self.thresholds
        measured = self.counts(night)
        day_measures = dataclasses.replace(measured, input=self._input(night.scored.texts))
        window_texts = _sample_texts(window, t.text_sample_rows, rng)
        trailing = _sum_measures([self.counts(n) for n in window], self._input(window_texts))
        text = monitoring.text_drift(_sample(night.scored.texts, t.text_sample_rows, rng), window_texts)
        truth = np.asarray(STAR_LABEL_IDS)[night.scored.ratings - 1]
        confusion = np.zeros((3, 3), dtype=np.int64)
        np.add.at(confusion, (truth, night.scored.predicted), 1)
        live = monitoring.live_quality(confusion, LABELS)
        found = signals.assess(day_measures, trailing, self.training, LABELS, t, "trailing 30 days", text, live, self.test_metrics)
        return found, incidents.open_incidents(day, found, incidents.carried(earlier), t)

    def _input(self, texts: list[str]) -> dict[str, Any]:
        return monitoring.input_stats(texts, self.classifier.vocabulary, self.classifier.max_length, self.thresholds.short_review_tokens)


def _sample(texts: list[str], limit: int, rng: np.random.Generator) -> list[str]:
    return texts if len(texts) <= limit else [texts[i] for i in rng.choice(len(texts), limit, replace=False)]


def _sample_texts(window: list[Night], limit: int, rng: np.random.Generator) -> list[str]:
    per_night = max(1, limit // max(1, len(window)))
    return [t for n in window for t in _sample(n.scored.texts, per_night, rng)]


def _sum_measures(parts: list[signals.Measures], input_stats: dict[str, Any]) -> signals.Measures:
    def add(dicts: list[Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for d in dicts:
            for k, v in d.items():
                out[k] = np.add(out[k], v).tolist() if k in out else v
        return out

    return signals.Measures(
        class_counts=add([p.class_counts for p in parts]),
        probability_histograms=add([p.probability_histograms for p in parts]),
        rating_counts=add([p.rating_counts for p in parts]),
        input=input_stats,
        rows=sum(p.rows for p in parts),
        duplicates=sum(p.duplicates for p in parts),
    )


def _prepare(quick: bool) -> dict[str, Any]:
    """Train the small model without the new category, and score the pool, the new
    category, reviews cut to 3 words and non-English reviews once."""
    from sentiment_model.ingest.canonical import read_canonical
    from sentiment_model.model.text import review_text
    from sentiment_model.reporting.monitoring import training_reference
    from sentiment_model.training.data import add_labels, split_train_validation_test, stratified_sample, texts_and_labels
    from sentiment_model.training.metrics import classification_metrics
    from sentiment_model.training.train import TrainConfig, train_classifier

    table = add_labels(read_canonical(shared_root()))
    food = np.zeros(table.num_rows, dtype=bool)
    for pattern in FAMILIES[NEW_CATEGORY]:
        food |= np.asarray(pc.match_substring(table.column("source"), pattern).to_numpy(zero_copy_only=False), dtype=bool)
    splits = split_train_validation_test(table.filter(pa.array(~food)), seed=13)
    train = stratified_sample(splits["train"], 2_000 if quick else 9_000, seed=13)
    config = TrainConfig(ensemble_size=1, distill=False, epochs=1 if quick else 2)
    started = time.perf_counter()
    classifier = train_classifier(train, splits["validation"], config, log=lambda _: None).classifier
    train_seconds = time.perf_counter() - started
    test_texts, test_labels = texts_and_labels(splits["test"])
    test_probabilities = classifier.predict_proba(test_texts)
    test_metrics = classification_metrics(test_labels, test_probabilities, classifier.decide(test_probabilities))
    validation_texts, _ = texts_and_labels(splits["validation"])
    validation_probabilities = classifier.predict_proba(validation_texts)
    reference = training_reference(texts_and_labels(train)[0], classifier.vocabulary, classifier.max_length, validation_probabilities, LABELS, classifier.decide(validation_probabilities))
    training = signals.Measures(class_counts=reference["predicted_class_counts"], probability_histograms=reference["probability_histograms"], input=reference["input"])
    # The pool: reviews of the same catalog the model did not train on.
    used = set(train.column("review_id").to_pylist()) | set(splits["validation"].column("review_id").to_pylist())
    rest = pa.concat_tables([splits["train"], splits["test"]])
    rest = rest.filter(pa.array([rid not in used for rid in rest.column("review_id").to_pylist()]))
    if quick:
        rest = rest.slice(0, 4_000)

    def texts_of(t: pa.Table) -> list[str]:
        return review_text(t.column("title").combine_chunks(), t.column("text").combine_chunks()).to_pylist()

    started = time.perf_counter()
    pool_texts = texts_of(rest)
    pool = Scored.of(classifier, pool_texts, rest.column("rating").to_numpy())
    food_table = table.filter(pa.array(food))
    food_table = food_table.slice(0, 1_000) if quick else food_table
    new_category = Scored.of(classifier, texts_of(food_table), food_table.column("rating").to_numpy())
    cut = Scored.of(classifier, [" ".join(t.split()[:3]) for t in pool_texts], pool.ratings)
    foreign_ratings = np.random.default_rng(1).choice([1, 3, 5], 2_000)
    foreign = Scored.of(classifier, foreign_reviews(2_000), foreign_ratings)
    score_seconds = time.perf_counter() - started
    return {
        "classifier": classifier,
        "monitor": Monitor(classifier, test_metrics, training, ReportThresholds()),
        "pool": pool,
        "new_category": new_category,
        "cut": cut,
        "foreign": foreign,
        "facts": {"pool_reviews": len(pool.texts), "food_reviews": len(new_category.texts), "train_seconds": train_seconds, "score_seconds": score_seconds, "test_macro_f1": test_metrics["macro_f1"]},
    }


def _stable(pool: Scored, size: int, rng: np.random.Generator) -> Night:
    return Night(pool.take(rng.integers(0, len(pool.texts), size)), size)


def _injections(data: dict[str, Any]) -> dict[str, Callable[[Night, np.random.Generator], Night]]:
    pool: Scored = data["pool"]
    negative_rows = np.flatnonzero(pool.ratings <= 2)
    shuffle = np.array([2, 0, 1])  # the champion's class names permuted: negative reads positive...

    def more_negative(night: Night, rng: np.random.Generator) -> Night:
        n = len(night.scored.texts)
        extra = int(round(0.08 * n))  # +8 points of the night's reviews, taken from negatives
        keep = rng.choice(n, n - extra, replace=False)
        return Night(Scored.concat([night.scored.take(keep), pool.take(rng.choice(negative_rows, extra))]), n)

    def mixed_in(other: Scored, share: float) -> Callable[[Night, np.random.Generator], Night]:
        def inject(night: Night, rng: np.random.Generator) -> Night:
            n = len(night.scored.texts)
            k = max(1, int(round(share * n)))
            return Night(Scored.concat([night.scored.take(rng.choice(n, n - k, replace=False)), other.take(rng.integers(0, len(other.texts), k))]), n)

        return inject

    def cut_to_three_words(night: Night, rng: np.random.Generator) -> Night:
        return Night(data["cut"].take(rng.integers(0, len(pool.texts), len(night.scored.texts))), night.rows)

    def broken_champion(night: Night, rng: np.random.Generator) -> Night:
        s = night.scored
        return Night(Scored(s.texts, s.ratings, shuffle[s.predicted], s.probabilities[:, np.argsort(shuffle)]), night.rows)

    def all_five_stars(night: Night, rng: np.random.Generator) -> Night:
        s = night.scored
        return Night(Scored(s.texts, np.full_like(s.ratings, 5), s.predicted, s.probabilities), night.rows)

    def sent_twice(night: Night, rng: np.random.Generator) -> Night:
        return Night(night.scored, 2 * night.rows, night.rows)  # scoring drops the copies and counts them

    return {
        "negative share +8 points": more_negative,
        "new product category (30% food reviews)": mixed_in(data["new_category"], 0.3),
        "10% non-English reviews": mixed_in(data["foreign"], 0.1),
        "reviews cut to 3 words": cut_to_three_words,
        "broken champion (labels shuffled)": broken_champion,
        "star-rating bug (all 5 stars)": all_five_stars,
        "every review sent twice": sent_twice,
    }


def _by_signal(found: list[dict[str, Any]]) -> str:
    new = [i for i in found if i["status"] == "new"]
    return "; ".join(f"{i['severity']} {i['kind']}: {i['signals'][0]}" for i in new) or "-"


def _closest(night_signals: list[dict[str, Any]]) -> str:
    """The signal closest to firing: what a night that raised nothing came nearest to."""
    best = max(night_signals, key=lambda s: min(s["ratio"], s["value"] / s["chance_level"] if s["chance_level"] else s["ratio"]))
    level = "n/a" if best["chance_level"] is None else f"{best['chance_level']:.3f}"
    return f"{best['measure']} vs {best['reference']}: {best['value']:.3f} (threshold {best['threshold']:g}, chance {level})"


def monitoring_benchmark(quick: bool = False, nights: int = 60, replicates: int = 3, signals_out: str | None = None) -> dict[str, Any]:
    """``signals_out``: also write every night's signals (values and chance levels) there,
    to try other thresholds without replaying (the chance levels do not depend on them)."""
    import datetime as dt

    started = time.perf_counter()
    data = _prepare(quick)
    monitor: Monitor = data["monitor"]
    sizes = (50, 300) if quick else SIZES
    nights = 6 if quick else nights
    first_day = dt.date(2015, 1, 1)
    stable_rows, incident_rows, false_examples, recorded = [], [], [], []
    for size in sizes:
        size_started = time.perf_counter()
        rng = np.random.default_rng(size)
        timeline = [_stable(data["pool"], size, rng) for _ in range(WARM_UP + nights)]
        earlier: list[list[dict[str, Any]]] = []
        false_incidents, fired_nights, by_kind = 0, 0, {}
        print(f"monitoring: {size} reviews a night", flush=True)
        for index in range(WARM_UP, WARM_UP + nights):
            day = first_day + dt.timedelta(days=index)
            night_signals, found = monitor.assess(timeline[index], timeline[index - WARM_UP : index], earlier, day, rng)
            recorded.append({"size": size, "night": index - WARM_UP + 1, "incident": None, "signals": night_signals})
            new = [i for i in found if i["status"] == "new"]
            false_incidents += len(new)
            fired_nights += bool(new)
            for incident in new:
                by_kind[incident["kind"]] = by_kind.get(incident["kind"], 0) + 1
                false_examples.append({"size": size, "night": index - WARM_UP + 1, "incident": incident["message"]})
            earlier.insert(0, found)
        stable_rows.append(
            {
                "reviews a night": size,
                "stable nights": nights,
                "false incidents": false_incidents,
                "per 30 nights": 30 * false_incidents / nights,
                "nights with one": fired_nights,
                "kinds": ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())) or "-",
                "seconds a night": (time.perf_counter() - size_started) / nights,
            }
        )
        for name, inject in _injections(data).items():
            detected_on, signal, closest = [], [], []
            for replicate in range(replicates):
                start = WARM_UP + (replicate * nights) // max(1, replicates)
                window = list(timeline[start - WARM_UP : start])
                earlier = []
                night_found = None
                for offset in range(INCIDENT_NIGHTS):  # until detected
                    night = inject(_stable(data["pool"], size, rng), rng)
                    night_signals, found = monitor.assess(night, window[-WARM_UP:], earlier, first_day + dt.timedelta(days=start + offset), rng)
                    recorded.append({"size": size, "night": offset + 1, "incident": name, "signals": night_signals})
                    if offset == 0:
                        closest.append(_closest(night_signals))
                    window.append(night)
                    earlier.insert(0, found)
                    if any(i["status"] == "new" for i in found):
                        night_found = offset + 1
                        signal.append(_by_signal(found))
                        break
                detected_on.append(night_found)
            incident_rows.append(
                {
                    "incident": name,
                    "reviews a night": size,
                    "detected on night 1": f"{sum(d == 1 for d in detected_on)} of {replicates}",
                    "detected by night": ", ".join("-" if d is None else str(d) for d in detected_on),
                    "first signal": signal[0] if signal else "not detected in 3 nights",
                    "night 1 came closest with": closest[0] if not detected_on[0] == 1 else "",
                }
            )
    if signals_out:
        import orjson

        with open(signals_out, "wb") as handle:
            handle.write(orjson.dumps(recorded, option=orjson.OPT_SERIALIZE_NUMPY))
    return {
        "rows": stable_rows,
        "incident_rows": incident_rows,
        "false_incident_examples": false_examples[:20],
        **{k: v for k, v in data["facts"].items()},
        "thresholds": ReportThresholds().model_dump(),
        "total_seconds": time.perf_counter() - started,
    }
