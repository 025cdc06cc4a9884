"""Is attention faithful? Delete each test review's k most-attended tokens, or k random
tokens, and compare how much the predicted class's probability drops (issue 13).

    uv run python -m benchmarks.faithfulness MODEL_FOLDER [--k 3]

Attention is a faithful explanation only if the first drop is clearly larger than the
second. Reviews with at most k tokens are skipped (nothing would be left). The interval is
a paired bootstrap of the mean difference over the reviews.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import labelled_splits, save


def attention_and_probabilities(explainer: Any, ids: np.ndarray, lengths: np.ndarray, buckets: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (rows x classes) and attention weights (rows x time), bucketed."""
    from sentiment_model.model.batching import inference_batches  # imports Keras: not at module import

    probabilities = np.zeros((len(ids), explainer.output_shape[0][-1]), dtype=np.float32)
    weights = np.zeros(ids.shape, dtype=np.float32)
    for rows, width in inference_batches(lengths, buckets):
        batch_probabilities, batch_weights = explainer.predict_on_batch(ids[rows, :width])
        probabilities[rows] = np.asarray(batch_probabilities)
        weights[rows, :width] = np.asarray(batch_weights)
    return probabilities, weights


def delete_positions(ids: np.ndarray, lengths: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sequences without the token at each row's ``positions``, still right-padded."""
    kept = np.ones(ids.shape, dtype=bool)
    np.put_along_axis(kept, positions, False, axis=1)
    out = np.zeros_like(ids)
    for row in range(len(ids)):
        remaining = ids[row, : lengths[row]][kept[row, : lengths[row]]]
        out[row, : len(remaining)] = remaining
    return out, lengths - positions.shape[1]


def faithfulness(model_folder: str, k: int = 3, seed: int = 0, resamples: int = 1_000) -> dict[str, Any]:
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.model.batching import predict_bucketed
    from sentiment_model.model.registry import load_model_dir
    from sentiment_model.training.data import texts_and_labels

    classifier = load_model_dir(DataRoot("."), model_folder)
    explainer = classifier.attention_explainer()
    if explainer is None:
        raise SystemExit(f"{model_folder}: the model has no attention layer")
    texts, _ = texts_and_labels(labelled_splits()["test"])
    ids, lengths = classifier.encode(texts)
    long_enough = lengths > k
    ids, lengths = ids[long_enough], lengths[long_enough]
    probabilities, weights = attention_and_probabilities(explainer, ids, lengths, classifier.prediction_widths)
    predicted = probabilities.argmax(1)
    rows = np.arange(len(ids))

    masked_weights = np.where(np.arange(ids.shape[1]) < lengths[:, None], weights, -np.inf)
    top = np.argsort(-masked_weights, axis=1)[:, :k]
    rng = np.random.default_rng(seed)
    random_positions = np.stack([rng.choice(length, k, replace=False) for length in lengths])

    drops, flips = {}, {}
    for name, positions in (("top_attention", top), ("random", random_positions)):
        new_ids, new_lengths = delete_positions(ids, lengths, positions)
        after = predict_bucketed(classifier.model, new_ids, new_lengths, classifier.prediction_widths)
        drops[name] = probabilities[rows, predicted] - after[rows, predicted]
        flips[name] = float((after.argmax(1) != predicted).mean())
    difference = drops["top_attention"] - drops["random"]
    boot = np.random.default_rng(seed).integers(0, len(difference), (resamples, len(difference)))
    low, high = np.quantile(difference[boot].mean(1), [0.025, 0.975])
    return {
        "model": model_folder,
        "k": k,
        "reviews": int(len(ids)),
        "skipped_short": int((~long_enough).sum()),
        "mean_drop_top_attention": float(drops["top_attention"].mean()),
        "mean_drop_random": float(drops["random"].mean()),
        "difference": float(difference.mean()),
        "difference_ci95": [float(low), float(high)],
        "prediction_changed_top_attention": flips["top_attention"],
        "prediction_changed_random": flips["random"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faithfulness", description=__doc__.splitlines()[0])
    parser.add_argument("model_folder")
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    result = faithfulness(args.model_folder, args.k)
    command = "uv run python -m benchmarks.faithfulness " + " ".join(sys.argv[1:])
    print(save(f"attention-faithfulness-k{args.k}", {**result, "seconds": time.perf_counter() - started, "command": command}))
    print(result)


if __name__ == "__main__":
    main()
