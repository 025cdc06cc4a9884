"""python -m benchmarks.teacher [--train-rows N] [--max-length L] [--epochs E] [--budget-minutes M] [--speed]

The fine-tuned MiniLM teacher against TF-IDF+LR trained on the same rows of the shared
corpus's training split (the library's split, as `benchmarks quality` uses): validation
and test macro-F1, the test difference with its paired bootstrap interval, training
examples/s and prediction reviews/s; benchmarks/results/teacher.json. ``--speed`` measures
only the training and prediction rates on full-width batches (a few steps each, no corpus):
benchmarks/results/teacher-speed.json."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import labelled_splits, save


def _full_width_batch(rows: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """[CLS] word pieces [SEP], no padding: the most a batch of this width costs."""
    ids = rng.integers(1_000, 29_000, size=(rows, width), dtype=np.int32)
    ids[:, 0], ids[:, -1] = 101, 102
    return ids


def speed(max_lengths: tuple[int, ...] = (128, 64), batch_sizes: tuple[int, ...] = (16, 32), steps: int = 3) -> dict[str, Any]:
    """Training examples/s (AdamW steps after one warm-up step per shape) and prediction
    reviews/s at each width and batch size, every row at the full width."""
    import keras

    from sentiment_model.teacher.config import TeacherConfig
    from sentiment_model.teacher.encoder import pretrained_teacher
    from sentiment_model.teacher.weights import bert_shape

    started_all = time.perf_counter()
    config = TeacherConfig()
    model = pretrained_teacher(bert_shape(), config.dropout)
    model.compile(optimizer=keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay), loss="categorical_crossentropy")
    rng, rows = np.random.default_rng(0), []
    for width in max_lengths:
        for batch_size in batch_sizes:
            ids, targets = _full_width_batch(batch_size, width, rng), np.eye(3, dtype=np.float32)[rng.integers(0, 3, batch_size)]
            started = time.perf_counter()
            model.train_on_batch(ids, targets)
            warmup = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(ids, targets)
            seconds = (time.perf_counter() - started) / steps
            rows.append({"max_length": width, "batch_size": batch_size, "seconds_per_step": seconds, "train_examples_per_second": batch_size / seconds, "first_step_seconds": warmup})
            print(f"  train width {width}, batch {batch_size}: {batch_size / seconds:.1f} examples/s ({seconds:.2f} s a step; first step {warmup:.1f} s)", flush=True)
    predict = []
    for width in max_lengths:
        ids = _full_width_batch(128, width, rng)
        model.predict_on_batch(ids)
        started = time.perf_counter()
        model.predict_on_batch(ids)
        seconds = time.perf_counter() - started
        predict.append({"max_length": width, "batch_size": 128, "predict_reviews_per_second": 128 / seconds})
        print(f"  predict width {width}, batch 128: {128 / seconds:.1f} reviews/s", flush=True)
    return {
        "seconds": time.perf_counter() - started_all,
        "steps": steps,
        "rows": rows,
        "predict": predict,
        "note": "every row at the full width (no padding): real reviews, bucketed by length, are cheaper",
    }


def teacher_benchmark(
    train_rows: int, max_length: int, epochs: int, budget_minutes: float | None, batch_size: int, validation_rows: int | None, test_rows: int | None, resamples: int = 1_000
) -> dict[str, Any]:
    """Fine-tune the teacher on ``train_rows`` of the training split (a stratified sample),
    early-stopping on validation; TF-IDF+LR on the same rows; both on validation and test
    (``validation_rows`` / ``test_rows``: stratified samples of them, None: all; the
    teacher predicts ~10-30 reviews/s on 2 cores)."""
    from sentiment_model.model.decision import macro_f1
    from sentiment_model.teacher.config import TeacherConfig
    from sentiment_model.teacher.finetune import fine_tune
    from sentiment_model.training.baseline import TfidfBaseline
    from sentiment_model.training.config import SEED
    from sentiment_model.training.data import stratified_sample, texts_and_labels
    from sentiment_model.training.metrics import bootstrap_macro_f1, comparison_line

    started = time.perf_counter()
    splits = labelled_splits()
    train = stratified_sample(splits["train"], n=train_rows, seed=SEED)
    validation = stratified_sample(splits["validation"], n=validation_rows, seed=SEED) if validation_rows else splits["validation"]
    test = stratified_sample(splits["test"], n=test_rows, seed=SEED) if test_rows else splits["test"]
    print(f"  corpus ready in {time.perf_counter() - started:.0f} s: {train.num_rows:,} training, {validation.num_rows:,} validation, {test.num_rows:,} test reviews", flush=True)
    config = TeacherConfig(max_length=max_length, epochs=epochs, budget_minutes=budget_minutes, batch_size=batch_size)
    teacher = fine_tune(train, validation, config, log=lambda line: print("  " + line, flush=True))
    validation_texts, y_validation = texts_and_labels(validation)
    test_texts, y_test = texts_and_labels(test)
    predict_started = time.perf_counter()
    teacher_test = teacher.predict_proba(test_texts).argmax(1)
    predict_seconds = time.perf_counter() - predict_started
    baseline_started = time.perf_counter()
    baseline = TfidfBaseline.fit(*texts_and_labels(train))
    baseline_seconds = time.perf_counter() - baseline_started
    comparison = bootstrap_macro_f1(y_test, teacher_test, baseline.predict_proba(test_texts).argmax(1), resamples=resamples)
    line = comparison_line(comparison, model="MiniLM teacher")
    print("  " + line, flush=True)
    return {
        "config": config.to_dict(),
        "train_rows": train.num_rows,
        "validation_rows": validation.num_rows,
        "test_rows": test.num_rows,
        "test_split_rows": splits["test"].num_rows,
        "teacher_validation_macro_f1": teacher.facts["validation_macro_f1"],
        "tfidf_validation_macro_f1": macro_f1(y_validation, baseline.predict_proba(validation_texts).argmax(1)),
        "teacher_macro_f1": comparison["macro_f1"],
        "teacher_ci": comparison["ci"],
        "tfidf_macro_f1": comparison["baseline_macro_f1"],
        "difference": comparison["difference"],
        "difference_ci": comparison["difference_ci"],
        "verdict": comparison["verdict"],
        "line": line,
        "train_examples_per_second": teacher.facts["train_examples_per_second"],
        "steady_train_examples_per_second": teacher.facts["steady_train_examples_per_second"],
        "predict_reviews_per_second": len(y_test) / predict_seconds,
        "tfidf_train_seconds": baseline_seconds,
        "training": teacher.facts,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.teacher", description=__doc__.split("\n\n")[1])
    parser.add_argument("--train-rows", type=int, default=3_000, help="training reviews (a stratified sample of the training split)")
    parser.add_argument("--validation-rows", type=int, default=1_000, help="validation reviews for early stopping and the validation figures (0: all)")
    parser.add_argument("--test-rows", type=int, default=2_500, help="test reviews, a stratified sample of the test split (0: all 7,375)")
    parser.add_argument("--max-length", type=int, default=128, help="word pieces kept per review")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--budget-minutes", type=float, default=None, help="stop training after this long (then validate once more)")
    parser.add_argument("--speed", action="store_true", help="only the training and prediction rates at widths 128 and 64, batches of 16 and 32")
    args = parser.parse_args(argv)
    from benchmarks.child import set_benchmark_env, stop_children_on_sigterm

    set_benchmark_env()  # before TensorFlow or Prefect is imported
    stop_children_on_sigterm()  # under `timeout`: the temporary corpus copy is removed
    command = ("python -m benchmarks.teacher " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    if args.speed:
        path = save("teacher-speed", {"command": command, **speed()})
    else:
        result = teacher_benchmark(args.train_rows, args.max_length, args.epochs, args.budget_minutes, args.batch_size, args.validation_rows or None, args.test_rows or None)
        path = save("teacher", {"command": command, **result})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
