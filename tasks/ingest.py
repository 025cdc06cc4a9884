"""Prefect tasks for ingestion: thin wrappers that add retries, logging and artifacts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from sentiment_model.core.layout import DataRoot
from sentiment_model.ingest.dedup import BucketOutcome, dedup_bucket
from sentiment_model.ingest.pipeline import FileResult, finish_ingest_run, ingest_file
from sentiment_model.ingest.sources import SourceSpec, load_manifest, resolve_files
from tasks.retry import transient_storage_error


@task(name="resolve-source-files", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def resolve_source_files(manifest_path: str, base_uri: str | None, storage_options: dict[str, Any]) -> list[tuple[SourceSpec, str]]:
    """Expand the manifest's URIs and globs to (spec, file) pairs, in manifest order."""
    logger = get_run_logger()
    manifest = load_manifest(manifest_path, base_uri)
    pairs: list[tuple[SourceSpec, str]] = []
    for spec in manifest.sources:
        files = resolve_files(spec, manifest.base_uri, storage_options)
        if not files:
            raise FileNotFoundError(f"source {spec.name!r}: no file matches {spec.uri!r} under {manifest.base_uri}")
        pairs.extend((spec, f) for f in files)
    logger.info("%d source files from %d manifest entries under %s", len(pairs), len(manifest.sources), manifest.base_uri)
    return pairs


@task(
    name="ingest-source-file",
    task_run_name="ingest {source}",
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=transient_storage_error,
    cache_policy=NONE,
)
def ingest_source_file(
    root: DataRoot,
    run_id: str,
    spec: SourceSpec,
    source: str,
    file_index: int,
    ingested_at: dt.datetime,
    chunk_rows: int,
    source_storage_options: dict[str, Any],
) -> FileResult:
    """Read, normalize and stage one file; quarantine what cannot be used."""
    result = ingest_file(
        root,
        run_id,
        spec,
        source,
        file_index,
        ingested_at=ingested_at,
        chunk_rows=chunk_rows,
        source_storage_options=source_storage_options,
    )
    how = "staged rows reused (unchanged)" if result.reused else "read"
    get_run_logger().info("%s: %s, %d records, %d valid, %d quarantined", source, how, result.records_read, result.valid, result.quarantined)
    return result


@task(
    name="dedup-bucket",
    task_run_name="dedup bucket {bucket}/{buckets}",
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=transient_storage_error,
    cache_policy=NONE,
)
def dedup_staged_bucket(root: DataRoot, run_id: str, bucket: int, buckets: int, inputs: list[tuple[int, list[str]]], ingested_at: dt.datetime) -> BucketOutcome:
    """Deduplicate one hash bucket of the staged rows into the run's snapshot."""
    return dedup_bucket(root, run_id, bucket, buckets, inputs, ingested_at)


@task(name="publish-canonical-snapshot", retries=1, retry_delay_seconds=10, retry_condition_fn=transient_storage_error, cache_policy=NONE)
def publish_canonical_snapshot(root: DataRoot, run_id: str, results: list[FileResult], created_at: dt.datetime, keep_snapshots: int, outcomes: list[BucketOutcome] | None = None) -> dict[str, Any]:
    """Gather the buckets' counts, reconcile, then swap the CURRENT pointer."""
    report = finish_ingest_run(root, run_id, results, created_at, keep_snapshots, outcomes)
    if "unchanged_since" in report:
        get_run_logger().info("no source file changed: snapshot %s stays live", report["unchanged_since"])
    else:
        get_run_logger().info("canonical snapshot %s is live: %s (pruned %d old)", report["pointer"]["run_id"], report["totals"], len(report["pruned_snapshots"]))
    return report


@task(name="publish-ingest-artifacts", cache_policy=NONE)
def publish_ingest_artifacts(report: dict[str, Any]) -> None:
    """The reconciliation as a table artifact and a markdown summary in the Prefect UI."""
    rows = [{k: row[k] for k in ("source_name", "source", "status", "records_read", "canonical", "duplicates", "quarantined", "error")} for row in report["files"]]
    create_table_artifact(key="ingest-reconciliation", table=rows, description="Records per source file: read = canonical + duplicates + quarantined")
    totals = report["totals"]
    failed = [row for row in report["files"] if row["status"] == "failed"]
    lines = [
        f"# Ingest {report['pointer']['run_id']}",
        "",
        f"- files: {totals['files']} ({totals['failed_files']} failed)",
        f"- records read: {totals['records_read']:,}",
        f"- canonical (distinct): {totals['canonical']:,}",
        f"- duplicates removed: {totals['duplicates']:,}",
        f"- quarantined: {totals['quarantined']:,}",
        f"- files unchanged since the last run (staged rows reused): {totals['reused_files']}",
    ]
    if failed:
        lines += ["", "## Failed files", *[f"- `{row['source']}`: {row['error']}" for row in failed]]
    create_markdown_artifact(key="ingest-summary", markdown="\n".join(lines))
