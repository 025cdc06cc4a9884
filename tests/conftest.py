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


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (each start costs ~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


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
