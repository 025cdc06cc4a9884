"""Flow `ingest`: raw review dumps (any fsspec URL) -> deduplicated canonical Parquet."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.core.settings import get_settings, root_at
from sentiment_model.ingest.dedup import BucketOutcome
from sentiment_model.ingest.pipeline import KEEP_SNAPSHOTS, FileResult, SourceFileError, live_report_if_unchanged, plan_buckets, staged_inputs
from sentiment_model.ingest.sources import SourceSpec
from tasks.ingest import (
    dedup_staged_bucket,
    ingest_source_file,
    publish_canonical_snapshot,
    publish_ingest_artifacts,
    resolve_source_files,
)


class IngestIncomplete(RuntimeError):
    """Some source files failed; the others landed. ``report`` is the reconciliation."""

    def __init__(self, message: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:  # keep the report when Prefect pickles the state
        return (type(self), (str(self), self.report))


class _Progress:
    """A Prefect progress artifact and a log line every ~10% of a long fan-out."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.done = what, total, 0
        self.every = max(1, total // 10)
        self.artifact = create_progress_artifact(progress=0.0, description=f"{what}: {total}")

    def step(self) -> None:
        self.done += 1
        update_progress_artifact(self.artifact, progress=100.0 * self.done / max(1, self.total))
        if self.done % self.every == 0 or self.done == self.total:
            get_run_logger().info("%s: %d/%d done", self.what, self.done, self.total)


@flow(name="ingest-stage-files")
def stage_files(data_root: str, run_id: str, files: list[tuple[SourceSpec, str]], started: dt.datetime, chunk_rows: int) -> list[FileResult]:
    """One task per source file (read, normalize, stage; or reuse if unchanged) on
    whichever task runner this subflow was given. The data root comes as its URL; the
    storage options (the root's and the sources') from this process's settings, never
    as parameters, which Prefect would store."""
    root = root_at(data_root)
    storage_options = root.storage_options
    logger = get_run_logger()
    progress = _Progress("source files staged", len(files))
    futures = [ingest_source_file.submit(root, run_id, spec, source, index, started, chunk_rows, storage_options) for index, (spec, source) in enumerate(files)]
    results: list[FileResult] = []
    for index, ((spec, source), future) in enumerate(zip(files, futures, strict=True)):
        future.wait()
        if future.state.is_completed():
            results.append(future.result())
        else:
            error = future.state.result(raise_on_failure=False)
            message = str(error) if isinstance(error, SourceFileError) else f"{source}: {error!r}"
            logger.error("source file failed: %s", message)
            results.append(FileResult(source_name=spec.name, source=source, file_index=index, error=message))
        progress.step()
    return results


@flow(name="ingest-dedup-buckets")
def dedup_buckets(data_root: str, run_id: str, buckets: int, inputs: list[tuple[int, list[str]]], started: dt.datetime) -> list[BucketOutcome]:
    """One task per hash bucket of the staged rows; every copy of a review_id is in one
    bucket. The data root comes as its URL (see :func:`stage_files`)."""
    root = root_at(data_root)
    progress = _Progress("dedup buckets written", buckets)
    futures = [dedup_staged_bucket.submit(root, run_id, bucket, buckets, inputs, started) for bucket in range(buckets)]
    outcomes = []
    for future in futures:
        outcomes.append(future.result())
        progress.step()
    return outcomes


@flow(name="ingest")
def ingest(
    data_root: str | None = None,
    sources_manifest: str | None = None,
    sources_base_uri: str | None = None,
    chunk_rows: int | None = None,
    keep_snapshots: int = KEEP_SNAPSHOTS,
    dask_address: str | None = None,
    max_workers: int = 2,
    bucket_rows: int | None = None,
) -> dict[str, Any]:
    """Read every source in the manifest (files unchanged since the live snapshot are not
    read again), quarantine bad records, drop duplicates bucket by bucket, and publish a
    new canonical snapshot. Files that fail are reported and the run ends Failed, but
    every other file still lands. ``dask_address`` runs the file and bucket tasks on a
    Dask cluster (the data root must then be storage every worker reaches, e.g. gs://)."""
    logger = get_run_logger()
    settings = get_settings(data_root=data_root, sources_manifest=sources_manifest, sources_base_uri=sources_base_uri, chunk_rows=chunk_rows, ingest_bucket_rows=bucket_rows)
    root = DataRoot(settings.data_root, settings.storage_options)
    run_id = new_run_id()
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    if dask_address:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=dask_address)
    else:
        runner = ThreadPoolTaskRunner(max_workers=max_workers)

    files = resolve_source_files(settings.sources_manifest, settings.sources_base_uri, settings.storage_options)
    results = stage_files.with_options(task_runner=runner)(root.url, run_id, files, started, settings.chunk_rows)
    outcomes = None
    if live_report_if_unchanged(root, results) is None:
        buckets = plan_buckets(results, settings.ingest_bucket_rows)
        outcomes = dedup_buckets.with_options(task_runner=runner)(root.url, run_id, buckets, staged_inputs(results), started)
    report = publish_canonical_snapshot(root, run_id, results, started, keep_snapshots, outcomes)
    publish_ingest_artifacts(report)
    totals = report["totals"]
    logger.info("ingest %s: %s", run_id, totals)
    if totals["failed_files"]:
        failed = [row["error"] for row in report["files"] if row["status"] == "failed"]
        raise IngestIncomplete(f"{totals['failed_files']} source file(s) failed, the rest landed: " + "; ".join(failed), report)
    return report


if __name__ == "__main__":
    ingest()
