"""Ingest fanned out on a real local Dask cluster (worker processes) gives the snapshot
local threads give."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiment_model.core.layout import DataRoot
from tests.unit.ingest.test_bucketed_ingest import corpus, snapshot_rows, write_manifest


@pytest.mark.usefixtures("prefect_harness")
def test_dask_cluster_gives_the_same_snapshot_as_local_threads(tmp_path):
    distributed = pytest.importorskip("distributed")
    from flows.ingest import ingest

    corpus(tmp_path / "raw")
    manifest = write_manifest(tmp_path)
    local = ingest(data_root=str(tmp_path / "local"), sources_manifest=manifest, chunk_rows=64, bucket_rows=250)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        on_dask = ingest(data_root=str(tmp_path / "dask"), sources_manifest=manifest, chunk_rows=64, bucket_rows=250, dask_address=cluster.scheduler_address)
    assert snapshot_rows(DataRoot(str(tmp_path / "dask"))) == snapshot_rows(DataRoot(str(tmp_path / "local")))
    assert on_dask["totals"] == local["totals"]
    assert [(r["canonical"], r["duplicates"], r["quarantined"]) for r in on_dask["files"]] == [(r["canonical"], r["duplicates"], r["quarantined"]) for r in local["files"]]
    buckets = {p.name.split("-")[1] for p in Path(tmp_path / "dask").rglob("part-b*.parquet")}
    assert len(buckets) > 1  # the dedup really ran as several buckets
