"""One function per benchmark; each returns its result dict (saved by __main__)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.common import PROJECT_ROOT, SHARED_AMAZON, labelled_splits, median_seconds, shared_root


def _replicate_gzip(source: Path, target: Path, copies: int) -> None:
    with gzip.open(source, "rb") as handle:
        data = handle.read()
    with gzip.open(target, "wb", compresslevel=6) as out:
        for _ in range(copies):
            out.write(data if data.endswith(b"\n") else data + b"\n")


def ingest(quick: bool = False) -> dict[str, Any]:
    """Raw gzip JSON lines and CSV -> canonical Parquet: this project vs pandas, same files."""
    import pandas as pd

    from sentiment_model.core.layout import DataRoot
    from sentiment_model.ingest.pipeline import ingest_file
    from sentiment_model.ingest.sources import build_spec

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    copies = 2 if quick else 10
    inputs = {
        "json_lines": (SHARED_AMAZON / "mcauley2014_json" / "cell_phones_and_accessories_5core_first4776.jsonl.gz", {"preset": "mcauley_json"}),
        "csv": (SHARED_AMAZON / "snap2013_finefoods_csv" / "Reviews_first5000.csv.gz", {"preset": "snap2013_csv"}),
    }
    rows = []
    repeats = 1 if quick else 3
    for kind, (source, entry) in inputs.items():
        path = work / f"big.{kind}.gz"
        if kind == "csv":
            with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
                header, *body = handle.read().splitlines(keepends=True)
            with gzip.open(path, "wt", encoding="utf-8", newline="") as out:
                out.write(header)
                for _ in range(copies):
                    out.writelines(body)
        else:
            _replicate_gzip(source, path, copies)
        megabytes = path.stat().st_size / 1e6
        spec = build_spec({"name": kind, "uri": str(path), **entry})

        def ours(spec=spec, path=path) -> int:
            root = DataRoot(tempfile.mkdtemp(dir=work))
            result = ingest_file(root, "bench", spec, str(path), 0, ingested_at=dt.datetime.now(dt.UTC))
            return result.records_read

        def pandas_pipeline(path=path, kind=kind) -> int:
            frame = pd.read_json(path, lines=True) if kind == "json_lines" else pd.read_csv(path)
            frame.to_parquet(work / f"pandas.{kind}.parquet")
            return len(frame)

        ours_s, ours_all, records = median_seconds(ours, repeats)
        pandas_s, pandas_all, _ = median_seconds(pandas_pipeline, repeats)
        rows.append(
            {
                "input": kind,
                "file_mb_gzip": megabytes,
                "records": records,
                "ours_seconds": ours_s,
                "ours_mb_per_s": megabytes / ours_s,
                "ours_reviews_per_s": records / ours_s,
                "pandas_seconds": pandas_s,
                "pandas_mb_per_s": megabytes / pandas_s,
                "speedup_vs_pandas": pandas_s / ours_s,
                "ours_runs": ours_all,
                "pandas_runs": pandas_all,
            }
        )
    shutil.rmtree(work, ignore_errors=True)
    return {"rows": rows, "note": "ours = read + validate + normalize + quarantine + review_id + Parquet (staging write); pandas = read + to_parquet only"}


def _texts(n: int) -> list[str]:
    from sentiment_model.ingest.canonical import read_canonical
    from sentiment_model.model.text import review_text

    table = read_canonical(shared_root(), columns=["title", "text"])
    texts = review_text(table.column("title"), table.column("text")).to_pylist()
    return (texts * (n // len(texts) + 1))[:n]


def tokenize(n: int = 100_000, quick: bool = False) -> dict[str, Any]:
    """Reviews/s to right-padded ids: ours vs Keras TextVectorization vs the seed's Tokenizer."""
    import keras

    from benchmarks.seed_style import LegacyTokenizer, seed_sequences
    from sentiment_model.model.text import Vocabulary
    from sentiment_model.model.text import tokenize as our_tokenize
    from sentiment_model.training.train import TrainConfig

    head = TrainConfig().truncation_head  # the cut the default model reads (kept_positions)
    n = 20_000 if quick else n
    texts = _texts(n)
    array = pa.array(texts)
    repeats = 1 if quick else 3
    vocab = Vocabulary.build(our_tokenize(array), 20_000, 2)
    legacy = LegacyTokenizer(20_000)
    legacy.fit_on_texts(texts)
    vectorizer = keras.layers.TextVectorization(max_tokens=20_000, output_sequence_length=200)
    vectorizer.adapt(texts[:20_000])
    ours_s, ours_all, _ = median_seconds(lambda: vocab.encode(array, 200, head), repeats)
    first_s, first_all, _ = median_seconds(lambda: vocab.encode(array, 200), repeats)
    legacy_s, legacy_all, _ = median_seconds(lambda: seed_sequences(legacy, texts, 200), repeats)
    textvec_s, textvec_all, _ = median_seconds(lambda: np.asarray(vectorizer(texts)), repeats)
    return {
        "reviews": n,
        "rows": [
            {"tokenizer": f"ours (pyarrow kernels, right-padded; the default cut, truncation_head={head})", "seconds": ours_s, "reviews_per_s": n / ours_s, "runs": ours_all},
            {"tokenizer": "ours, a long review's first 200 tokens (models before round 14)", "seconds": first_s, "reviews_per_s": n / first_s, "runs": first_all},
            {"tokenizer": "Keras TextVectorization (TF string ops)", "seconds": textvec_s, "reviews_per_s": n / textvec_s, "runs": textvec_all},
            {"tokenizer": "seed: Keras 2 Tokenizer + pad_sequences", "seconds": legacy_s, "reviews_per_s": n / legacy_s, "runs": legacy_all},
        ],
        "speedup_vs_seed": legacy_s / ours_s,
        "speedup_vs_textvectorization": textvec_s / ours_s,
    }


def _matmul_gflops() -> float:
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    a @ a
    seconds, _, _ = median_seconds(lambda: a @ a, 5)
    return 2 * 1024**3 / seconds / 1e9


SCORING_SCRIPT = """
import sys, time, datetime as dt, json
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.model.registry import load_classifier
from sentiment_model.scoring.batch import score_day, list_day_files
from sentiment_model.model.text import review_text
root, mode, model = DataRoot(sys.argv[1]), sys.argv[2], sys.argv[3]
day = dt.date(2030, 1, 1)
classifier = load_classifier(root, model)
started = time.perf_counter()
if mode == "ours":
    manifest = score_day(root, classifier, day, new_run_id())
    rows = manifest["rows"]
else:  # seed style: read all (of the first 50K-review file), pad to 200, one model.predict
    table = pq.ParquetDataset(list_day_files(root, day)[:1]).read()
    ids = np.zeros((table.num_rows, 200), dtype=np.int32)
    encoded, lengths = classifier.encode(review_text(table.column("title"), table.column("text")))
    ids[:, : encoded.shape[1]] = encoded
    probabilities = classifier.model.predict(ids, batch_size=256, verbose=0)
    pq.write_table(table.append_column("predicted", pa.array(probabilities.argmax(1))), root.join("seed_scored.parquet"))
    rows = table.num_rows
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent process.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak_kb / 1024}))
"""


LOAD_DAY = dt.date(2030, 1, 1)


def _replicated_day_root(reviews: int) -> tuple[Any, Path, float]:
    """A temporary data root whose day ``LOAD_DAY`` holds ``reviews`` real reviews (the
    shared corpus copied with new ids, in 50K-row files) and whose champion is an
    untrained model of the default shape (speed and memory do not depend on the
    weights): what `default_shaped_network` and `default_shaped_wide` build from the
    training defaults. Version ``bench-network`` is the same network without the wide
    part. Returns the root, its temporary folder and the mean tokens per review."""
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.ingest.canonical import read_canonical, write_incoming_batches
    from sentiment_model.model.classifier import SentimentClassifier
    from sentiment_model.model.registry import promote, save_model
    from sentiment_model.model.text import Vocabulary, review_text
    from sentiment_model.model.text import tokenize as our_tokenize
    from sentiment_model.training.train import RetrainConfig, default_shaped_network, default_shaped_wide

    work = Path(tempfile.mkdtemp(prefix="bench-score-"))
    root = DataRoot(str(work / "root"))
    canonical = read_canonical(shared_root())
    texts = review_text(canonical.column("title"), canonical.column("text"))
    vocab = Vocabulary.build(our_tokenize(texts), 20_000, 2)
    defaults = RetrainConfig().train
    network = default_shaped_network(defaults, len(vocab))
    wide = default_shaped_wide(defaults, our_tokenize(texts))
    for version, part in (("bench", wide), ("bench-network", None)):
        classifier = SentimentClassifier(network, vocab, defaults.max_length, np.zeros(3), version=version, wide=part, truncation_head=defaults.truncation_head)
        save_model(root, version, classifier, {}, {"test": {"confusion_matrix": np.zeros((3, 3), int).tolist()}}, {"class_counts": {"train": {"negative": 1, "neutral": 1, "positive": 1}}})
    promote(root, "bench", 0.0, "benchmark")
    copies = reviews // canonical.num_rows + 1
    parts = []
    for copy in range(copies):
        ids = pc.binary_join_element_wise(canonical.column("review_id"), pa.scalar(f"-{copy}"), "")
        parts.append(canonical.set_column(0, "review_id", ids))
    day = pa.concat_tables(parts).slice(0, reviews)
    review_time = dt.datetime.combine(LOAD_DAY, dt.time(), dt.UTC)
    day = day.set_column(day.schema.get_field_index("review_time"), "review_time", pa.array([review_time] * reviews, pa.timestamp("s", tz="UTC")))
    write_incoming_batches(root, day, rows_per_file=50_000)
    lengths = np.diff(vocab.lookup(our_tokenize(texts))[1])
    mean_tokens = float(np.minimum(np.maximum(lengths, 1), 200).mean())
    return root, work, mean_tokens


def scoring(reviews: int = 200_000, quick: bool = False) -> dict[str, Any]:
    """Parquet in -> scored Parquet out on CPU with the default-size model, vs seed style."""
    from sentiment_model.training.train import RetrainConfig, scoring_networks

    reviews = 20_000 if quick else reviews
    root, work, mean_tokens = _replicated_day_root(reviews)
    defaults = RetrainConfig().train
    networks, frozen_dim = scoring_networks(defaults)
    runs: dict[str, Any] = {}
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    # Above 200K reviews only our pipeline runs (the seed style pads everything in memory).
    modes = {"ours": ("ours", "champion"), "ours-network": ("ours", "bench-network"), "seed": ("seed", "bench-network")}
    for name, (mode, model) in modes.items() if reviews <= 200_000 else [("ours", modes["ours"])]:
        done = subprocess.run([sys.executable, "-c", SCORING_SCRIPT, root.url, mode, model], capture_output=True, text=True, env=env)
        if done.returncode:
            raise RuntimeError(f"scoring benchmark ({name}) failed:\n{done.stderr[-3000:]}")
        runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
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


LOAD_SCRIPT = """
import sys, time, json, threading, datetime as dt
from prefect.testing.utilities import prefect_test_harness

def status_mb(key):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(key)) / 1024

samples, stop = [], threading.Event()
def sample_rss(started):
    while not stop.wait(1.0):
        samples.append((round(time.perf_counter() - started, 1), round(status_mb("VmRSS:"))))

with prefect_test_harness(server_startup_timeout=120):  # the API server is its own process
    from flows.nightly_scoring import nightly_scoring
    from sentiment_model.scoring.config import ScoringConfig
    before_mb = status_mb("VmHWM:")
    started = time.perf_counter()
    threading.Thread(target=sample_rss, args=(started,), daemon=True).start()
    outcome = nightly_scoring(data_root=sys.argv[1], config=ScoringConfig(run_date=dt.date.fromisoformat(sys.argv[2])))
    seconds = time.perf_counter() - started
    stop.set()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent process.
print(json.dumps({"outcome": outcome, "seconds": seconds, "peak_rss_mb": status_mb("VmHWM:"), "before_flow_mb": before_mb, "samples": samples}))
"""


def load(reviews: int = 1_000_000, quick: bool = False) -> dict[str, Any]:
    """The nightly job at scale: the `nightly-scoring` flow (score every file on the default
    two threads, publish, report) over one day of ``reviews`` reviews, in its own process,
    with peak memory (VmHWM) and an RSS sample every second."""
    from sentiment_model.scoring.batch import read_scored_day
    from sentiment_model.training.train import RetrainConfig, scoring_networks

    reviews = 20_000 if quick else reviews
    networks, _ = scoring_networks(RetrainConfig().train)
    root, work, _ = _replicated_day_root(reviews)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, root.url, LOAD_DAY.isoformat()], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    if done.returncode:
        raise RuntimeError(f"load benchmark failed:\n{done.stderr[-3000:]}")
    run = json.loads(done.stdout.strip().splitlines()[-1])
    day = run["outcome"]["days"][LOAD_DAY.isoformat()]
    scored_rows = read_scored_day(root, LOAD_DAY).num_rows
    if day["scored"] + day["quarantined"] != reviews or scored_rows != day["scored"]:
        raise RuntimeError(f"load benchmark: {reviews} reviews in, {day['scored']} scored + {day['quarantined']} quarantined, {scored_rows} rows published")
    shutil.rmtree(work, ignore_errors=True)
    samples = run["samples"]
    end = samples[-1][0] if samples else 0.0
    stride = max(1, len(samples) // 60)
    return {
        "reviews": reviews,
        "rows": [
            {
                "run": f"nightly-scoring flow (2 threads), default champion shape ({networks} network{'s' if networks > 1 else ''}{' and the wide part' if RetrainConfig().train.wide_terms else ''})",
                "reviews_per_s": reviews / run["seconds"],
                "seconds": run["seconds"],
                "peak_rss_mb": run["peak_rss_mb"],
                "scored": day["scored"],
                "quarantined": day["quarantined"],
            }
        ],
        "peak_rss_mb": run["peak_rss_mb"],
        "peak_before_flow_mb": run["before_flow_mb"],
        "memory_goal_mb": 2048,
        "rss_mb_first_minute_max": max((mb for t, mb in samples if t <= 60), default=None),
        "rss_mb_last_minute_max": max((mb for t, mb in samples if t >= end - 60), default=None),
        "rss_timeline": samples[::stride],
    }


def training(samples: int = 4_000, quick: bool = False) -> dict[str, Any]:
    """Samples/s per epoch on CPU: recurrent_dropout=0 (the fused cuDNN-capable config) vs
    the seed's 0.2, same network (Embedding 128 -> BiLSTM 128 -> softmax), same bucketed
    batches; each timed on its second epoch, after a full warm-up epoch traced every shape."""
    import keras

    from benchmarks.seed_style import seed_model
    from sentiment_model.model.batching import BucketedSequence
    from sentiment_model.model.text import Vocabulary
    from sentiment_model.model.text import tokenize as our_tokenize
    from sentiment_model.training.data import stratified_sample
    from sentiment_model.training.train import texts_and_labels

    samples = 1_000 if quick else samples
    train = stratified_sample(labelled_splits()["train"], n=samples, seed=1)
    texts, y = texts_and_labels(train)
    vocab = Vocabulary.build(our_tokenize(texts), 20_000, 1)
    ids, lengths = vocab.encode(texts, 200)
    rows = []
    for name, recurrent_dropout in (("recurrent_dropout=0 (fused-capable)", 0.0), ("seed: recurrent_dropout=0.2", 0.2)):
        model = seed_model(len(vocab), recurrent_dropout=recurrent_dropout, one_hot=True)
        batches = BucketedSequence(ids, lengths, y, np.ones(len(y)), 64)
        model.fit(batches, epochs=1, verbose=0)  # traces every bucket width
        started = time.perf_counter()
        model.fit(batches, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        rows.append({"config": name, "device": "CPU", "samples_per_s": samples / seconds, "epoch_seconds": seconds, "batch_size": 64, "units": 128, "embedding": 128})
    return {"samples": samples, "rows": rows, "backend": keras.backend.backend(), "gpu": "not measured: no GPU machine was lent to this session"}


def orchestration(quick: bool = False) -> dict[str, Any]:
    """A nightly run of a small day through Prefect vs the same library calls directly."""
    code = """
import sys, time, json, datetime as dt, shutil
from benchmarks.runs import _small_day_root
from sentiment_model.core.layout import new_run_id
from sentiment_model.model.registry import load_classifier
from sentiment_model.scoring.batch import score_day
from prefect.testing.utilities import prefect_test_harness
root, day = _small_day_root()
classifier = load_classifier(root, "champion")
direct = []
for _ in range(3):
    t = time.perf_counter(); score_day(root, classifier, day, new_run_id()); direct.append(time.perf_counter() - t)
with prefect_test_harness(server_startup_timeout=120):
    from flows.nightly_scoring import nightly_scoring
    from sentiment_model.scoring.config import ScoringConfig
    flow_times = []
    for _ in range(3):
        t = time.perf_counter(); nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=day)); flow_times.append(time.perf_counter() - t)
t = time.perf_counter()
from sentiment_model.reporting.reports import ModelContext, build_report
build_report(root, day, ModelContext(version="bench", training_counts={"negative": 1, "neutral": 1, "positive": 1}))
report_seconds = time.perf_counter() - t
print(json.dumps({"direct": direct, "prefect": flow_times, "report_seconds": report_seconds}))
"""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    if done.returncode:
        raise RuntimeError(f"orchestration benchmark failed:\n{done.stderr[-3000:]}")
    times = json.loads(done.stdout.strip().splitlines()[-1])
    direct, flow = float(np.median(times["direct"])), float(np.median(times["prefect"]))
    return {
        "rows": [
            {"path": "library: score_day (score + publish)", "median_seconds": direct, "runs": times["direct"]},
            {"path": "Prefect flow: nightly_scoring (score + publish + report + artifacts)", "median_seconds": flow, "runs": times["prefect"]},
        ],
        "report_seconds": times["report_seconds"],
        "overhead_seconds": flow - direct - times["report_seconds"],
        "note": "warm runs on a temporary local Prefect API; the first start of the API (8-14 s) is not included",
    }


def _small_day_root() -> tuple[Any, dt.date]:
    """A small real day (2015-08-30, ~300 reviews) with an untrained default-size champion."""
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.ingest.canonical import read_canonical, write_incoming_batches
    from sentiment_model.model.classifier import SentimentClassifier
    from sentiment_model.model.network import ModelConfig, build_model
    from sentiment_model.model.registry import promote, save_model
    from sentiment_model.model.text import Vocabulary, review_text
    from sentiment_model.model.text import tokenize as our_tokenize

    day = dt.date(2015, 8, 30)
    canonical = read_canonical(shared_root())
    vocab = Vocabulary.build(our_tokenize(review_text(canonical.column("title"), canonical.column("text"))), 20_000, 2)
    root = DataRoot(tempfile.mkdtemp(prefix="bench-orch-"))
    classifier = SentimentClassifier(build_model(ModelConfig(vocab_size=len(vocab))), vocab, 200, np.zeros(3), version="bench")
    save_model(root, "bench", classifier, {}, {"test": {"confusion_matrix": np.zeros((3, 3), int).tolist()}}, {"class_counts": {"train": {"negative": 1, "neutral": 1, "positive": 1}}})
    promote(root, "bench", 0.0, "benchmark")
    write_incoming_batches(root, read_canonical(shared_root(), start=day, end=day))
    return root, day


INGEST_SCALE_SCRIPT = """
import sys, time, json, resource
from prefect.testing.utilities import prefect_test_harness

def status_mb(key):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(key)) / 1024

with prefect_test_harness(server_startup_timeout=120):  # the API server is its own process
    from flows.ingest import ingest
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    report = ingest(data_root=sys.argv[1], sources_manifest=sys.argv[2], max_workers=2)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
with open(sys.argv[3], "w") as out:  # not stdout: Prefect may print after the flow
    out.write(json.dumps({"totals": report["totals"], "unchanged": "unchanged_since" in report, "seconds": seconds, "cpu_seconds": cpu,
                  "peak_rss_mb": status_mb("VmHWM:"), "files": [{k: r[k] for k in ("source", "records_read", "canonical", "duplicates", "quarantined", "quarantine_reasons", "reused")} for r in report["files"]]}))
"""

_PERTURBATIONS = ["Really.", "Honestly.", "Overall fine.", "As expected.", "Would say so again.", "Nothing more to add."]


def synthetic_mcauley_dump(folder: Path, reviews: int, file_reviews: int = 500_000) -> dict[str, int]:
    """A McAuley 2014-style JSON-lines gzip dump of ``reviews`` records built from the
    shared corpus: each distinct review copied with a new reviewerID (and a sentence added
    to the text from the second copy on), plus exact duplicates (1%) and conflicting
    duplicates (0.1%: same reviewer, text and time, another rating), every one placed in
    a later file than its original. Returns the counts ingest must report."""
    import duckdb

    from sentiment_model.ingest.canonical import read_canonical

    base = read_canonical(shared_root(), columns=["product_id", "rating", "title", "text", "review_time"])
    duplicates, conflicts = reviews // 100, reviews // 1000
    unique = reviews - duplicates - conflicts
    half = unique // 2
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(config={"memory_limit": "2GB", "threads": "2"}) as con:
        con.register("base_arrow", base)
        con.execute("CREATE TABLE base AS SELECT row_number() OVER () - 1 AS base_row, * FROM base_arrow")
        base_n = base.num_rows
        # (position in the dump, generated review number, kind): originals first half/second
        # half; copies sit after the originals' half so they always land in a later file.
        con.execute(f"""
            CREATE TABLE plan AS
            SELECT i::DOUBLE AS pos, i AS review, 0 AS kind FROM range({unique}) t(i)
            UNION ALL SELECT (2 * j * {max(1, (half // 2) // max(1, duplicates))})::DOUBLE + {half} + 0.5, 2 * j * {max(1, (half // 2) // max(1, duplicates))}, 1 FROM range({duplicates}) t(j)
            UNION ALL SELECT (2 * j * {max(1, (half // 2) // max(1, conflicts))} + 1)::DOUBLE + {half} + 0.25, 2 * j * {max(1, (half // 2) // max(1, conflicts))} + 1, 2 FROM range({conflicts}) t(j)
        """)
        con.execute(f"CREATE TABLE ranked AS SELECT review, kind, (row_number() OVER (ORDER BY pos) - 1) // {file_reviews} AS file_no, pos FROM plan")
        files = con.execute("SELECT max(file_no) + 1 FROM ranked").fetchone()[0]
        words = "[" + ", ".join(f"'{w}'" for w in _PERTURBATIONS) + "]"
        for file_no in range(files):
            path = folder / f"reviews_{file_no:04d}.json.gz"
            con.execute(f"""
                COPY (
                    SELECT 'S' || (review // {base_n}) || '-' || b.base_row AS reviewerID,
                           b.product_id AS asin,
                           'Reviewer ' || b.base_row AS reviewerName,
                           CASE WHEN review // {base_n} = 0 THEN b.text ELSE b.text || ' ' || {words}[1 + (review // {base_n}) % {len(_PERTURBATIONS)}] END AS reviewText,
                           (CASE WHEN kind = 2 THEN b.rating % 5 + 1 ELSE b.rating END)::DOUBLE AS overall,
                           b.title AS summary,
                           epoch(b.review_time)::BIGINT AS unixReviewTime
                    FROM ranked JOIN base b ON b.base_row = review % {base_n}
                    WHERE file_no = {file_no} ORDER BY pos
                ) TO '{path}' (FORMAT JSON, COMPRESSION GZIP)
            """)
    return {"records_read": reviews, "canonical": unique, "duplicates": duplicates, "quarantined": conflicts, "files": files}


def _run_measured(script: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a script in its own process; sample the RSS of its whole process tree (the
    Prefect API server included) every 0.2 s."""
    import psutil

    result_file = Path(tempfile.mkdtemp(prefix="bench-result-")) / "result.json"
    process = subprocess.Popen([sys.executable, "-c", script, *args, str(result_file)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=PROJECT_ROOT)
    parent, peak_tree = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak_tree = max(peak_tree, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    _, stderr = process.communicate()
    if process.returncode or not result_file.exists():
        raise RuntimeError(f"benchmark subprocess failed:\n{stderr[-3000:]}")
    return {**json.loads(result_file.read_text()), "peak_tree_rss_mb": peak_tree / 2**20}


def ingest_scale(reviews: int = 5_000_000, quick: bool = False) -> dict[str, Any]:
    """A synthetic McAuley dump of ``reviews`` records through the ingest flow on 2
    threads, then again with no file changed: rate, peak memory of the process tree,
    and the reconciliation against the known counts."""
    reviews = 100_000 if quick else reviews
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-scale-"))
    started = time.perf_counter()
    expected = synthetic_mcauley_dump(work / "raw", reviews)
    generate_seconds = time.perf_counter() - started
    gzip_mb = sum(p.stat().st_size for p in (work / "raw").glob("*.json.gz")) / 1e6
    manifest = work / "sources.toml"
    manifest.write_text('base_uri = "raw"\n[[sources]]\nname = "synthetic"\nuri = "*.json.gz"\npreset = "mcauley_json"\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}
    rows, checks = [], {}
    for label in ("first run", "rerun, no file changed"):
        run = _run_measured(INGEST_SCALE_SCRIPT, [str(work / "root"), str(manifest)], env)
        totals = run["totals"]
        reasons = {k: v for f in run["files"] for k, v in f["quarantine_reasons"].items()}
        checks[label] = all(totals[k] == expected[k] for k in ("records_read", "canonical", "duplicates", "quarantined")) and set(reasons) <= {"conflicting duplicate"}
        rows.append(
            {
                "run": label,
                "reviews": totals["records_read"],
                "seconds": run["seconds"],
                "reviews_per_s": totals["records_read"] / run["seconds"],
                "gzip_mb_per_s": gzip_mb / run["seconds"],
                "cpu_seconds": run["cpu_seconds"],
                "reviews_per_cpu_s": totals["records_read"] / max(run["cpu_seconds"], 1e-9),
                "peak_rss_mb": run["peak_rss_mb"],
                "peak_tree_rss_mb": run["peak_tree_rss_mb"],
                "reused_files": totals["reused_files"],
                "counts_match": checks[label],
            }
        )
    shutil.rmtree(work, ignore_errors=True)
    if not all(checks.values()):
        raise RuntimeError(f"ingest-scale: reconciliation does not match the known counts {expected}: {rows}")
    return {
        "reviews": reviews,
        "gzip_mb": gzip_mb,
        "files": expected["files"],
        "expected": expected,
        "rows": rows,
        "generate_seconds": generate_seconds,
        "rerun_share_of_first": rows[1]["seconds"] / rows[0]["seconds"],
        "note": "peak_rss_mb: the flow's process (VmHWM); peak_tree_rss_mb: its whole process tree (the Prefect API server included), sampled every 0.2 s",
    }


REPORT_SCRIPT = """
import json, sys, time, datetime as dt
from prefect.testing.utilities import prefect_test_harness
from sentiment_model.core.layout import DataRoot
root, day, window = DataRoot(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), int(sys.argv[3])
with prefect_test_harness(server_startup_timeout=120):
    from flows.report import report
    t = time.perf_counter()
    flow_summary = report(run_date=day, data_root=root.url, model_version="bench", report_options={"window_days": window})
    flow = time.perf_counter() - t
print("RESULT " + json.dumps({"flow": flow, "timings": flow_summary["timings_seconds"], "incidents": len(flow_summary["incidents"]),
                  "lime_seconds": flow_summary["explanations"]["seconds_per_explanation"], "explained": len(flow_summary["explanations"]["reviews"]),
                  "text_drift_auc": (flow_summary["text_drift"] or {}).get("auc"), "reviews": flow_summary["reviews"]}))
"""


def _scored_copy_of_incoming(root: Any, day: dt.date, seed: int = 0) -> int:
    """Write ``day``'s scored output without a model: probabilities drawn around each
    review's stars (so live quality and drift have something to measure), the first
    tokens as attention tokens, in the scored schema, with the day's manifest."""
    import posixpath

    import pyarrow.parquet as pq

    from sentiment_model.core.schema import LABELS, SCORED_SCHEMA
    from sentiment_model.model.text import review_text
    from sentiment_model.model.text import tokenize as our_tokenize
    from sentiment_model.scoring.batch import list_day_files

    rng = np.random.default_rng(seed)
    files, rows = [], 0
    for index, path in enumerate(list_day_files(root, day)):
        batch = pq.read_table(path)
        n = batch.num_rows
        stars = batch.column("rating").to_numpy(zero_copy_only=False).astype(int)
        label = np.where(stars <= 2, 0, np.where(stars == 3, 1, 2))
        alpha = np.ones((n, 3)) + 4 * np.eye(3)[label]
        probabilities = rng.gamma(alpha)
        probabilities = (probabilities / probabilities.sum(1, keepdims=True)).astype(np.float32)
        tokens = pc.list_slice(our_tokenize(review_text(batch.column("title"), batch.column("text"))), 0, 3)
        table = pa.table(
            {
                "review_id": batch.column("review_id"),
                "product_id": batch.column("product_id"),
                "rating": batch.column("rating"),
                "predicted_label": pa.array(np.array(LABELS, dtype=object)[probabilities.argmax(1)], pa.string()),
                "p_negative": probabilities[:, 0],
                "p_neutral": probabilities[:, 1],
                "p_positive": probabilities[:, 2],
                "predicted_stars": pa.nulls(n, pa.int8()),
                "confidence": probabilities.max(1),
                "top_tokens": tokens.cast(pa.list_(pa.string())),
                "review_date": pa.array([day] * n, pa.date32()),
                "model_version": pa.array(["bench"] * n, pa.string()),
                "scored_at": pa.array([dt.datetime(2030, 1, 1, tzinfo=dt.UTC)] * n, pa.timestamp("s", tz="UTC")),
            },
            schema=SCORED_SCHEMA,
        )
        part = root.scored_part(day, "bench", index)
        root.fs.makedirs(posixpath.dirname(part), exist_ok=True)
        pq.write_table(table, part, compression="zstd")
        files.append(posixpath.relpath(part, root.scored_dir(day)))
        rows += n
    root.write_json_atomic(root.scored_manifest(day), {"date": day.isoformat(), "run_id": "bench", "model_version": "bench", "files": files, "rows": rows, "quarantined": 0})
    return rows


def report(reviews: int = 200_000, window_days: int = 30, quick: bool = False) -> dict[str, Any]:
    """The nightly report and its artifacts for one scored day of ``reviews`` real reviews
    with a full trailing window (``window_days`` earlier days of the same size): the
    `report` flow (build + artifacts, on a temporary local API, one cold run: TensorFlow
    import and model load included), with the report's own per-stage timings. The scored day is synthesized from the
    shared corpus (probabilities drawn around the stars), the model is the untrained
    default-shape champion: no training, same costs."""
    reviews = 20_000 if quick else reviews
    window_days = 3 if quick else window_days
    root, work, _ = _replicated_day_root(reviews)
    _scored_copy_of_incoming(root, LOAD_DAY)
    for back in range(1, window_days + 1):  # the same reviews on every trailing day: cheap to stage
        earlier = LOAD_DAY - dt.timedelta(days=back)
        for kind in (root.incoming_dir, root.scored_dir):
            root.fs.copy(kind(LOAD_DAY), kind(earlier), recursive=True)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", REPORT_SCRIPT, root.url, LOAD_DAY.isoformat(), str(window_days)], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    if done.returncode:
        raise RuntimeError(f"report benchmark failed:\n{done.stderr[-3000:]}")
    run = json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith("RESULT "))[len("RESULT ") :])
    shutil.rmtree(work, ignore_errors=True)
    return {
        "reviews": run["reviews"],
        "window_days": window_days,
        "rows": [
            {"path": "Prefect flow: report (build + artifacts)", "seconds": run["flow"], "reviews": run["reviews"], "trailing_reviews": run["reviews"] * window_days},
        ],
        "stage_seconds_in_flow": run["timings"],
        "lime_seconds_per_explanation": run["lime_seconds"],
        "explained_reviews": run["explained"],
        "incidents": run["incidents"],
        "goal_seconds": 60,
        "note": "one cold run of the flow in a fresh process (model load, language model load included)",
    }
