"""Shared fixtures. Prefect runs offline against one session-wide test harness."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

# Offline: no analytics, no telemetry. Set before any Prefect import in the test session.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT_ROOT = Path(__file__).parent.parent
SHARED_AMAZON = PROJECT_ROOT.parent / "shared" / "data" / "amazon"


#: A session fixture too costly to build in both test processes (``-n 2``): the files
#: that use it run in one process, one after the other.
SHARED_IN_ONE_PROCESS = "shared_ingest"


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """Two test processes (``-n 2``, the default options) take whole files, so a module
    fixture is built once; the files that use :data:`SHARED_IN_ONE_PROCESS` go to one
    process together. (pytest-xdist's own groups, ``--dist loadgroup``, do not apply
    under pytest 9.2, whose node ids no longer take xdist's group suffix.) Another
    ``--dist`` given on the command line is left to pytest-xdist."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    here = Path(__file__).parent
    sharing = {str(path.relative_to(here.parent)) for path in here.rglob("test_*.py") if SHARED_IN_ONE_PROCESS in path.read_text(encoding="utf-8")}

    class FilesSharingTheCorpusTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED_IN_ONE_PROCESS if path in sharing else path

    return FilesSharingTheCorpusTogether(config, log)


def pytest_collection_modifyitems(config, items):
    """Markers by folder. ``tests/unit/<package>/``: the quick in-process suite,
    ``uv run pytest -m "not slow"``. ``tests/training/`` (tests that train networks) and
    ``tests/system/`` (real processes, servers, browsers, races, the shared corpus) are
    ``slow``, with a ``training`` or ``system`` marker of their own; so is a test anywhere
    that runs flows on the session's Prefect API server (fixture ``prefect_harness``)."""
    here = Path(__file__).parent
    for item in items:
        parents = Path(str(item.fspath)).parents
        for folder in ("system", "training"):
            if here / folder in parents:
                item.add_marker(pytest.mark.slow)
                item.add_marker(getattr(pytest.mark, folder))
        if "prefect_harness" in getattr(item, "fixturenames", ()):  # runs flows on a real Prefect API server
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (each start costs ~10 s); its
    SQLite transactions begin IMMEDIATE (tests/prefect_api.py says why)."""
    from tests.prefect_api import prefect_api_running

    with prefect_api_running():
        yield


GCS_BUCKET = "review-sentiment"


@pytest.fixture(scope="session")
def gcs_emulator():
    """A local GCS emulator (honouring upload preconditions, see tests/gcs_emulator.py)
    with one bucket; yields the gcsfs storage options."""
    from tests.gcs_emulator import gcs_emulator_running

    with gcs_emulator_running(GCS_BUCKET) as options:
        yield options


@pytest.fixture
def fixture_copy(tmp_path: Path):
    """Copy a hand-written fixture into tmp_path, optionally gzipped; returns its path."""

    def copy(name: str, gz: bool = False, new_name: str | None = None) -> Path:
        target = tmp_path / "raw" / (new_name or name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if gz:
            target = target.with_name(target.name + ".gz")
            with open(FIXTURES / name, "rb") as src, gzip.open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copy(FIXTURES / name, target)
        return target

    return copy


def require_shared_corpus() -> Path:
    if not SHARED_AMAZON.is_dir():
        pytest.skip(f"shared corpus not found at {SHARED_AMAZON}")
    return SHARED_AMAZON


os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_POSITIVE = ["great", "love it", "works perfectly", "excellent value", "very happy", "highly recommend", "fantastic"]
_NEGATIVE = ["terrible", "broke after a week", "waste of money", "very disappointed", "returned it", "awful", "stopped working"]
_NEUTRAL = ["it is okay", "average", "nothing special", "decent but", "mixed feelings", "so so", "fine i guess"]
_NOUNS = ["charger", "kettle", "watch", "cable", "blender", "headphones", "case"]


def synthetic_reviews(n: int = 300, seed: int = 0):
    """A small labelled table written from templates (no real data): enough signal for a
    tiny model to learn, for tests of the training and registry plumbing."""
    import numpy as np
    import pyarrow as pa

    from sentiment_model.training.data import add_labels

    rng = np.random.default_rng(seed)
    stars, titles, texts = [], [], []
    for i in range(n):
        kind = rng.choice(3, p=[0.25, 0.2, 0.55])
        phrases = (_NEGATIVE, _NEUTRAL, _POSITIVE)[kind]
        noun = _NOUNS[i % len(_NOUNS)]
        stars.append(int(rng.choice([[1, 2], [3, 3], [4, 5]][kind])))
        titles.append(str(rng.choice(phrases)))
        texts.append(f"the {noun} is {rng.choice(phrases)} and {rng.choice(phrases)}")
    return add_labels(
        pa.table(
            {
                "review_id": [f"{i:032x}" for i in range(n)],
                "rating": pa.array(stars, type=pa.int8()),
                "title": titles,
                "text": texts,
            }
        )
    )


@pytest.fixture(scope="session")
def shared_ingest(prefect_harness, tmp_path_factory):
    """The real shared corpus ingested once per session through the ingest flow."""
    require_shared_corpus()
    from flows.ingest import ingest
    from sentiment_model.core.layout import DataRoot

    root_dir = tmp_path_factory.mktemp("shared-root")
    report = ingest(data_root=str(root_dir))
    return DataRoot(str(root_dir)), report


def canonical_rows(table, day, source="fixture"):
    """Give labelled synthetic rows the canonical schema, dated on ``day``."""
    import datetime as dt

    import pyarrow as pa

    from sentiment_model.core.schema import CANONICAL_SCHEMA

    n = table.num_rows
    when = dt.datetime.combine(day, dt.time(12), dt.UTC)
    return pa.table(
        {
            "review_id": table.column("review_id"),
            "product_id": [f"P{i % 4}" for i in range(n)],
            "reviewer_id": [f"U{i}" for i in range(n)],
            "rating": table.column("rating"),
            "title": table.column("title"),
            "text": table.column("text"),
            "review_time": [when] * n,
            "source": [source] * n,
            "ingested_at": [when] * n,
        },
        schema=CANONICAL_SCHEMA,
    )


@pytest.fixture(scope="session")
def tiny_champion_root(tmp_path_factory):
    """A data root with a tiny promoted model and two staged nightly days (synthetic)."""
    import datetime as dt

    from sentiment_model.core.layout import DataRoot
    from sentiment_model.ingest.canonical import write_incoming_batches
    from tests.tiny_model import install

    root = DataRoot(str(tmp_path_factory.mktemp("champion-root")))
    install(root)  # committed (tests/tiny_model.py): loading it costs a second, training it ~30 s
    days = synthetic_reviews(700, seed=9)
    write_incoming_batches(root, canonical_rows(days.slice(0, 400), dt.date(2015, 8, 30)), rows_per_file=150)
    write_incoming_batches(root, canonical_rows(days.slice(400), dt.date(2015, 8, 31)), rows_per_file=150)
    return root
