"""Model quality benchmarks: the default BiLSTM against TF-IDF+LR trained on the same rows,
on the random split (`quality`) and on source families held out one at a time
(`cross-source`). Every difference comes with its paired bootstrap interval."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.common import labelled_splits, shared_root
from benchmarks.student import Trainer, plain_trainer, teacher_row, trainer_for
from sentiment_model.core.schema import LABELS

if TYPE_CHECKING:
    from sentiment_model.teacher.config import TeacherConfig

# Source families of ../shared/data/amazon (folders), as a user's own catalog would be: a
# different shop, years, categories and export format. The first four are the default.
FAMILIES: dict[str, tuple[str, ...]] = {
    "amazon.in CSVs": ("/amazon_in_csv/",),
    "AWS TSVs": ("/aws_reviews_tsv/",),
    "SNAP fine foods": ("/snap2013_finefoods_csv/", "/snap2013_text/"),
    "Datafiniti/PromptCloud": ("/datafiniti_csv/", "/promptcloud_csv/"),
    "McAuley 2014 CSV": ("/mcauley2014_csv/",),
    "McAuley 2014 JSON": ("/mcauley2014_json/",),
    "McAuley 2018 JSON": ("/mcauley2018_json/",),
    "UW baby CSVs": ("/uw_amazon_baby_csv/",),
}
DEFAULT_FAMILIES = ("amazon.in CSVs", "AWS TSVs", "SNAP fine foods", "Datafiniti/PromptCloud")


def _per_class_f1(y: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    from sentiment_model.training.metrics import classification_metrics

    metrics = classification_metrics(y, np.eye(3)[predictions], predictions)
    return {f"f1_{name}": metrics["per_class"][name]["f1"] for name in LABELS} | {"accuracy": metrics["accuracy"]}


def compare_on(train: pa.Table, validation: pa.Table, test: pa.Table, config: Any, resamples: int = 1_000, runs: int = 1, trainer: Trainer = plain_trainer) -> dict[str, Any]:
    """Train the BiLSTM (``config``) and TF-IDF+LR on the same rows; score both on ``test``.
    With ``runs`` > 1 the BiLSTM is trained that many times (seeds ``config.seed`` + 0, 1,
    ...): the first run's figures stay the row's, and ``over_runs`` gives every run's
    difference and the mean's paired interval, so one lucky training run cannot pass for a
    win (the same seed also varies by up to ~0.02 on test between runs: threaded float sums).
    ``network_alone`` scores each run's network without its wide part (with the prior
    correction tuned for it alone): what the BiLSTM is worth by itself. ``trainer``: how
    the network is trained (benchmarks/student.py: plainly, or as a teacher's student,
    the teacher then judged too)."""
    from sentiment_model.model.decision import apply_offsets
    from sentiment_model.training.baseline import TfidfBaseline
    from sentiment_model.training.data import texts_and_labels
    from sentiment_model.training.metrics import bootstrap_macro_f1, bootstrap_mean_difference, comparison_line

    test_texts, y_test = texts_and_labels(test)
    started = time.perf_counter()
    baseline = TfidfBaseline.fit(*texts_and_labels(train))
    baseline_predictions = baseline.predict_proba(test_texts).argmax(1)
    baseline_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = trainer(train, validation, config)
    train_seconds = time.perf_counter() - started
    results = [result] + [trainer(train, validation, config.model_copy(update={"seed": config.seed + offset})) for offset in range(1, runs)]
    run_predictions, network_predictions, network_facts = [], [], []
    for run in results:
        ids, lengths, words = run.classifier.encode_with_tokens(test_texts)
        network_probabilities = run.classifier.predict_proba_ids(ids, lengths)
        run_predictions.append(run.classifier.decide(run.classifier.with_wide(network_probabilities, words)))
        wide = run.extra.get("wide")
        if wide is None:  # no wide part: the network is the model
            network_predictions.append(run_predictions[-1])
            network_facts.append({"validation_macro_f1": run.validation_macro_f1})
            continue
        offsets = wide["network_class_offsets"]
        network_predictions.append(apply_offsets(network_probabilities, None if offsets is None else np.asarray(offsets)))
        network_facts.append({"validation_macro_f1": wide["network_validation_macro_f1"], "wide_combiner": wide["combiner"], "wide_share": wide["share"]})
    predictions = run_predictions[0]
    comparison = bootstrap_macro_f1(y_test, predictions, baseline_predictions, resamples=resamples)
    over_runs: dict[str, Any] = {}
    if runs > 1:
        over_runs = bootstrap_mean_difference(y_test, run_predictions, baseline_predictions, resamples=resamples)
        over_runs |= {"seeds": [config.seed + offset for offset in range(runs)], "run_validation_macro_f1": [run.validation_macro_f1 for run in results]}
    network_alone = bootstrap_mean_difference(y_test, network_predictions, baseline_predictions, resamples=resamples) | {"runs": network_facts}
    return {
        "train_rows": train.num_rows,
        "test_rows": test.num_rows,
        "bilstm_macro_f1": comparison["macro_f1"],
        "bilstm_ci": comparison["ci"],
        "tfidf_macro_f1": comparison["baseline_macro_f1"],
        "difference": comparison["difference"],
        "difference_ci": comparison["difference_ci"],
        "verdict": comparison["verdict"],
        "line": comparison_line(comparison),
        "bilstm": _per_class_f1(y_test, predictions),
        "tfidf": _per_class_f1(y_test, baseline_predictions),
        "bilstm_validation_macro_f1": result.validation_macro_f1,
        "bilstm_train_seconds": train_seconds,
        "tfidf_train_seconds": baseline_seconds,
        "training": {k: v for k, v in result.extra.items() if k != "model_config"},
        # The mean's two figures also at the top level: the benchmark tables show scalars only.
        **({"mean_difference": over_runs["mean_difference"], "mean_difference_ci": over_runs["mean_difference_ci"], "over_runs": over_runs} if over_runs else {}),
        "network_mean_difference": network_alone["mean_difference"],
        "network_mean_difference_ci": network_alone["mean_difference_ci"],
        "network_alone": network_alone,
        **teacher_row(trainer, baseline, validation, test_texts, y_test, baseline_predictions, resamples),
    }


def quality(sample_sizes: tuple[int | None, ...] = (None,), quick: bool = False, runs: int = 1, teacher: TeacherConfig | None = None) -> dict[str, Any]:
    """The default `sentiment retrain` model vs TF-IDF+LR on the random split (after dedup),
    for each training-set size (the BiLSTM trained ``runs`` times, as the student of a
    teacher fine-tuned as ``teacher`` says when given), plus VADER as a no-training
    reference."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from sentiment_model.training.config import RetrainConfig
    from sentiment_model.training.data import stratified_sample, texts_and_labels
    from sentiment_model.training.metrics import bootstrap_macro_f1

    config = RetrainConfig().train
    if quick:
        config = config.model_copy(update={"epochs": 1, "ensemble_size": 1, "distill": False})
        sample_sizes = (3_000,)
    splits = labelled_splits()
    test_texts, y_test = texts_and_labels(splits["test"])
    analyzer = SentimentIntensityAnalyzer()
    compound = np.array([analyzer.polarity_scores(t)["compound"] for t in test_texts.to_pylist()])
    vader = np.where(compound >= 0.05, 2, np.where(compound <= -0.05, 0, 1))
    rows: list[dict[str, Any]] = [{"train": "VADER (lexicon, no training)", **bootstrap_macro_f1(y_test, vader)}]
    for size in sample_sizes:
        train = stratified_sample(splits["train"], n=size, seed=13) if size else splits["train"]
        trainer = trainer_for(teacher, shared_root())
        rows.append({"train": f"random split, {train.num_rows:,} training reviews", **compare_on(train, splits["validation"], splits["test"], config, runs=runs, trainer=trainer)})
    return {"config": config.to_dict(), "test_rows": int(len(y_test)), "rows": rows}


def family_holdout(labelled: pa.Table, prefixes: tuple[str, ...], seed: int = 13) -> dict[str, pa.Table]:
    """Test = every review of the family; train/validation = the other families' reviews,
    split as usual, less any review whose normalized text also occurs in the family (so
    a shared generic text cannot leak the answer)."""
    from sentiment_model.training.data import normalized_text_keys, split_train_validation_test

    sources = labelled.column("source")
    in_family = pc.match_substring(sources, prefixes[0])
    for prefix in prefixes[1:]:
        in_family = pc.or_(in_family, pc.match_substring(sources, prefix))
    in_family = pc.fill_null(in_family, False)
    test = labelled.filter(in_family)
    rest = labelled.filter(pc.invert(in_family))
    held_texts = pa.array(sorted(set(normalized_text_keys(test))), type=pa.string())
    rest = rest.filter(pc.invert(pc.is_in(pa.array(normalized_text_keys(rest), type=pa.string()), value_set=held_texts)))
    splits = split_train_validation_test(rest, validation_fraction=0.1, test_fraction=0.0, seed=seed)
    return {"train": splits["train"], "validation": splits["validation"], "test": test}


def cross_source(families: tuple[str, ...] = DEFAULT_FAMILIES, quick: bool = False, runs: int = 1, teacher: TeacherConfig | None = None) -> dict[str, Any]:
    """For each held-out family: the default BiLSTM and TF-IDF+LR, both trained on the
    other families, scored on the held-out one (the BiLSTM as the student of a teacher
    fine-tuned on the same rows as ``teacher`` says, when given)."""
    from sentiment_model.ingest.canonical import read_canonical
    from sentiment_model.training.config import RetrainConfig
    from sentiment_model.training.data import add_labels, stratified_sample

    config = RetrainConfig().train
    if quick:
        config = config.model_copy(update={"epochs": 1, "ensemble_size": 1, "distill": False})
    labelled = add_labels(read_canonical(shared_root()))
    rows = []
    for family in families:
        splits = family_holdout(labelled, FAMILIES[family])
        if quick:
            splits["train"] = stratified_sample(splits["train"], n=3_000, seed=13)
        trainer = trainer_for(teacher, shared_root())
        rows.append({"held_out": family, **compare_on(splits["train"], splits["validation"], splits["test"], config, runs=runs, trainer=trainer)})
        print("   ", rows[-1]["held_out"], rows[-1]["line"], flush=True)
    return {"config": config.to_dict(), "rows": rows}
