"""Training speed of the production network: one epoch of the shared corpus's training
split, masked (what the CPU default trains) against unmasked length-bucketed batches (the
cuDNN fast path under JAX/torch), at two batch sizes.

The sequence lengths are the real ones; the token ids are random (speed does not depend on
which words a review holds). It needs only Keras and the network module, so it also runs on
a GPU machine that has no pydantic, Prefect or TensorFlow: write its inputs here, carry them.

    python -m benchmarks.network_training --write-inputs DIR   # here: lengths + model config
    KERAS_BACKEND=torch python -m benchmarks.network_training --inputs DIR --out FILE.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

LENGTHS_FILE = "train_lengths.npy"
CONFIG_FILE = "model_config.json"


def write_inputs(folder: Path) -> None:
    """The training split's token lengths and the default model's sizes (needs the project's
    full environment and ../shared)."""
    from benchmarks.common import labelled_splits
    from sentiment_model.model.text import tokenize
    from sentiment_model.training.data import texts_and_labels
    from sentiment_model.training.train import TrainConfig, build_vocabulary, model_config_for, scoring_networks

    config = TrainConfig(embeddings="random", frozen_embeddings=None)
    texts, _labels = texts_and_labels(labelled_splits()["train"])
    vocabulary = build_vocabulary(texts, tokenize(texts), config)
    _ids, lengths = vocabulary.encode(texts, config.max_length)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / LENGTHS_FILE, lengths.astype(np.int32))
    defaults = TrainConfig()
    model_config = model_config_for(defaults, vocab_size=len(vocabulary), frozen_dim=scoring_networks(defaults)[1])
    spec = {"model": model_config.to_dict(), "batch_size": defaults.batch_size, "buckets": list(defaults.buckets), "learning_rate": defaults.learning_rate}
    (folder / CONFIG_FILE).write_text(json.dumps(spec))


def epoch_seconds(model_config: dict[str, Any], lengths: np.ndarray, batch_size: int, buckets: tuple[int, ...], learning_rate: float, use_mask: bool) -> dict[str, float]:
    """Seconds for one epoch after a warm-up epoch (compilation and autotuning excluded)."""
    import keras

    from sentiment_model.model.batching import BucketedSequence
    from sentiment_model.model.network import CLASS_HEAD, STAR_HEAD, ModelConfig, build_model

    keras.utils.set_random_seed(13)
    config = ModelConfig(**{**model_config, "use_mask": use_mask})
    rng = np.random.default_rng(13)
    width = int(max(buckets))
    ids = rng.integers(2, config.vocab_size, size=(len(lengths), width), dtype=np.int32)
    ids[np.arange(width)[None, :] >= lengths[:, None]] = 0  # right-padded, as training encodes
    labels = rng.integers(0, 3, size=len(lengths))
    targets: Any = np.eye(3, dtype=np.float32)[labels]
    if config.star_head:
        targets = (targets, np.eye(5, dtype=np.float32)[rng.integers(0, 5, size=len(lengths))])
    model = build_model(config)
    losses = {CLASS_HEAD: "categorical_crossentropy", STAR_HEAD: "categorical_crossentropy"} if config.star_head else "categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, clipnorm=1.0), loss=losses)
    batches = BucketedSequence(ids, lengths, targets, np.ones(len(lengths), np.float32), batch_size, buckets, seed=13)
    started = time.perf_counter()
    model.fit(batches, epochs=1, verbose=0)
    warm_up = time.perf_counter() - started
    started = time.perf_counter()
    model.fit(batches, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    return {"epoch_s": round(seconds, 2), "first_epoch_s": round(warm_up, 2), "reviews_per_s": round(len(lengths) / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-inputs", type=Path, help="write the lengths and model config to this folder, then stop")
    parser.add_argument("--inputs", type=Path, help="a folder written by --write-inputs")
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--masks", default="masked,unmasked")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.write_inputs:
        write_inputs(args.write_inputs)
        return
    if not args.inputs:
        parser.error("--inputs or --write-inputs is required")
    import keras

    lengths = np.load(args.inputs / LENGTHS_FILE)
    spec = json.loads((args.inputs / CONFIG_FILE).read_text())
    rows = []
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        for mask in args.masks.split(","):
            row = {"backend": keras.backend.backend(), "batch_size": batch_size, "mask": mask, "reviews": len(lengths)}
            row |= epoch_seconds(spec["model"], lengths, batch_size, tuple(spec["buckets"]), spec["learning_rate"], use_mask=mask == "masked")
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {"machine": platform.node(), "processor": platform.processor(), "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
