"""Batch scoring on CPU (`python -m benchmarks scoring`): Parquet in -> scored Parquet out
with the default-size model, against the seed style, each run in a fresh process
(`measured_scoring`), and against the machine's FLOP ceiling."""

from __future__ import annotations

import shutil
import time
from typing import Any

import numpy as np

from benchmarks import child
from benchmarks.common import median_seconds
from benchmarks.day_roots import LOAD_DAY, replicated_day_root


def measured_scoring(root_url: str, mode: str, model: str) -> dict[str, Any]:
    """In the child: score ``LOAD_DAY`` with ``model``, our pipeline (``mode`` "ours") or
    the seed style (read the first 50K-review file, pad to 200, one model.predict)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sentiment_model.core.layout import DataRoot, new_run_id
    from sentiment_model.model.registry import load_classifier
    from sentiment_model.model.text import review_text
    from sentiment_model.scoring.batch import list_day_files, score_day

    root = DataRoot(root_url)
    classifier = load_classifier(root, model)
    started = time.perf_counter()
    if mode == "ours":
        rows = score_day(root, classifier, LOAD_DAY, new_run_id())["rows"]
    else:
        table = pq.ParquetDataset(list_day_files(root, LOAD_DAY)[:1]).read()
        ids = np.zeros((table.num_rows, 200), dtype=np.int32)
        encoded, _ = classifier.encode(review_text(table.column("title"), table.column("text")))
        ids[:, : encoded.shape[1]] = encoded
        probabilities = classifier.model.predict(ids, batch_size=256, verbose=0)
        pq.write_table(table.append_column("predicted", pa.array(probabilities.argmax(1))), root.join("seed_scored.parquet"))
        rows = table.num_rows
    return {"rows": rows, "seconds": time.perf_counter() - started}


def _matmul_gflops() -> float:
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    a @ a
    seconds, _, _ = median_seconds(lambda: a @ a, 5)
    return 2 * 1024**3 / seconds / 1e9


def scoring(reviews: int = 200_000, quick: bool = False) -> dict[str, Any]:
    """Parquet in -> scored Parquet out on CPU with the default-size model, vs seed style."""
    from sentiment_model.training.config import RetrainConfig
    from sentiment_model.training.train import scoring_networks

    reviews = 20_000 if quick else reviews
    root, work, mean_tokens = replicated_day_root(reviews)
    defaults = RetrainConfig().train
    networks, frozen_dim = scoring_networks(defaults)
    runs: dict[str, Any] = {}
    # Above 200K reviews only our pipeline runs (the seed style pads everything in memory).
    modes = {"ours": ("ours", "champion"), "ours-network": ("ours", "bench-network"), "seed": ("seed", "bench-network")}
    for name, (mode, model) in modes.items() if reviews <= 200_000 else [("ours", modes["ours"])]:
        runs[name] = child.run(measured_scoring, root.url, mode, model)
    gflops = _matmul_gflops()
    embedding, units = defaults.embedding_dim + frozen_dim, defaults.lstm_units
    flops_per_token = 2 * 4 * (embedding + units) * units * 2 * networks
    ceiling = gflops * 1e9 / (flops_per_token * mean_tokens)
    ours_rate = runs["ours"]["rows"] / runs["ours"]["seconds"]
    rows = [
        {
            "pipeline": "ours (stream, bucketed, attention top tokens; wide and deep, the default)",
            "reviews_per_s": ours_rate,
            "seconds": runs["ours"]["seconds"],
            "peak_rss_mb": runs["ours"]["peak_rss_mb"],
        }
    ]
    if "ours-network" in runs:
        network_run = runs["ours-network"]
        rows.append(
            {
                "pipeline": "ours, the network alone (no wide part)",
                "reviews_per_s": network_run["rows"] / network_run["seconds"],
                "seconds": network_run["seconds"],
                "peak_rss_mb": network_run["peak_rss_mb"],
            }
        )
    seed_rate = None
    if "seed" in runs:
        seed_rate = runs["seed"]["rows"] / runs["seed"]["seconds"]
        rows.append(
            {
                "pipeline": "seed style (pad to 200, predict all at once; first 50K of the batch)",
                "reviews_per_s": seed_rate,
                "seconds": runs["seed"]["seconds"],
                "peak_rss_mb": runs["seed"]["peak_rss_mb"],
            }
        )
    shutil.rmtree(work, ignore_errors=True)
    return {
        "reviews": reviews,
        "mean_tokens_per_review": mean_tokens,
        "rows": rows,
        "speedup_vs_seed": ours_rate / seed_rate if seed_rate else None,
        "networks_per_review": networks,
        "matmul_gflops": gflops,
        "bilstm_flops_per_token": flops_per_token,
        "flop_ceiling_reviews_per_s": ceiling,
        "share_of_ceiling": ours_rate / ceiling,
    }
