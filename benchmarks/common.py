"""Shared benchmark helpers: machine facts, medians, the shared corpus, result files."""

from __future__ import annotations

import atexit
import datetime as dt
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

RESULTS_DIR = Path(__file__).parent / "results"
PROJECT_ROOT = Path(__file__).parent.parent
SHARED_AMAZON = PROJECT_ROOT.parent / "shared" / "data" / "amazon"


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, accelerator: printed with every result."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        memory_gb = None
    import keras

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": memory_gb,
        "gpu": None,
        "python": platform.python_version(),
        "keras_backend": keras.backend.backend(),
        "date": dt.date.today().isoformat(),
    }


def median_seconds(function: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Median wall time over ``repeats`` calls (and every time, and the last result)."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_bytes(orjson.dumps({"benchmark": name, "machine": machine(), **payload}, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return path


def temporary_folder(prefix: str) -> Path:
    """A new folder under the temporary directory, removed when this process exits
    (SIGTERM included, under ``python -m benchmarks``): on a shared machine, copies of the
    corpus must not pile up in /tmp when a run fails or is stopped."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


_CORPUS: dict[str, Any] = {}


def shared_root() -> Any:
    """The shared corpus ingested once per process into a temporary data root."""
    if "root" not in _CORPUS:
        from flows.ingest import ingest
        from sentiment_model.core.layout import DataRoot

        if not SHARED_AMAZON.is_dir():
            raise SystemExit(f"the shared corpus is not at {SHARED_AMAZON}")
        folder = str(temporary_folder("bench-root-"))
        root = DataRoot(folder)
        ingest(data_root=folder, sources_manifest=str(PROJECT_ROOT / "sources.toml"))
        _CORPUS["root"] = root
    return _CORPUS["root"]


def labelled_splits(seed: int = 13) -> dict[str, Any]:
    """The library's split (after dedup) of the labelled shared corpus."""
    if "splits" not in _CORPUS:
        from sentiment_model.ingest.canonical import read_canonical
        from sentiment_model.training.data import add_labels, split_train_validation_test

        _CORPUS["splits"] = split_train_validation_test(add_labels(read_canonical(shared_root())), seed=seed)
    return _CORPUS["splits"]
