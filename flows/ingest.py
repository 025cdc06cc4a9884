"""Flow `ingest`: raw review dumps (any fsspec URL) -> deduplicated canonical Parquet."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger

from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.core.settings import get_settings
from sentiment_model.ingest.pipeline import FileResult, SourceFileError
from tasks.ingest import (
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


@flow(name="ingest")
def ingest(
    data_root: str | None = None,
    sources_manifest: str | None = None,
    sources_base_uri: str | None = None,
    chunk_rows: int | None = None,
    keep_snapshots: int = 3,
) -> dict[str, Any]:
    """Read every source in the manifest, quarantine bad records, drop duplicates, and
    publish a new canonical snapshot. Files that fail are reported and the run ends
    Failed, but every other file still lands."""
    logger = get_run_logger()
    settings = get_settings(data_root=data_root, sources_manifest=sources_manifest, sources_base_uri=sources_base_uri, chunk_rows=chunk_rows)
    root = DataRoot(settings.data_root, settings.storage_options)
    run_id = new_run_id()
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)

    files = resolve_source_files(settings.sources_manifest, settings.sources_base_uri, settings.storage_options)
    futures = [ingest_source_file.submit(root, run_id, spec, source, index, started, settings.chunk_rows, settings.storage_options) for index, (spec, source) in enumerate(files)]
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

    report = publish_canonical_snapshot(root, run_id, results, started, keep_snapshots)
    publish_ingest_artifacts(report)
    totals = report["totals"]
    logger.info("ingest %s: %s", run_id, totals)
    if totals["failed_files"]:
        failed = [row["error"] for row in report["files"] if row["status"] == "failed"]
        raise IngestIncomplete(f"{totals['failed_files']} source file(s) failed, the rest landed: " + "; ".join(failed), report)
    return report


if __name__ == "__main__":
    ingest()
