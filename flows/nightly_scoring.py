"""Flow `nightly-scoring` (scheduled 02:00): score a day's batch with the champion, then report."""

from __future__ import annotations

import datetime as dt
import posixpath
import zoneinfo
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from flows.report import artifact_prefix, report
from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.core.settings import get_settings
from sentiment_model.scoring.batch import EmptyRunRefused
from sentiment_model.scoring.config import ScoringConfig
from tasks.scoring import emit_report_events, list_batch_files, publish_scored_day, resolve_model, score_batch_file


def yesterday(timezone: str) -> dt.date:
    return (dt.datetime.now(zoneinfo.ZoneInfo(timezone)) - dt.timedelta(days=1)).date()


@flow(name="score-day-files")
def score_day_files(root: DataRoot, model_dir: str, day: dt.date, files: list[str], run_id: str, scored_at: dt.datetime) -> list[Any]:
    """Fan out one task per batch file on whichever task runner this subflow was given."""
    progress = create_progress_artifact(progress=0.0, description=f"scoring {day}: {len(files)} files")
    futures = [score_batch_file.submit(root, model_dir, f, day, run_id, i, scored_at) for i, f in enumerate(files)]
    results = []
    for done, future in enumerate(futures, start=1):
        results.append(future.result())
        update_progress_artifact(progress, progress=100.0 * done / len(futures))
    return results


@flow(name="nightly-scoring")
def nightly_scoring(data_root: str | None = None, config: ScoringConfig | None = None) -> dict[str, Any]:
    """Score ``config.run_date`` (default: yesterday in the configured timezone), or every
    day up to ``config.end_date`` for a backfill, with the champion or a pinned
    ``model_version``. Each day is replaced atomically, so reruns are safe. A
    ``dask_address`` fans the files out on a Dask cluster instead of local threads. A day
    that scores nothing never replaces a published day with reviews unless
    ``allow_empty``: the other days still run, and the flow then fails naming the refused
    days. After each day's report, Prefect events announce it and every kind of threshold
    it crossed (``flows/alerts.py`` turns them into notifications)."""
    config = config or ScoringConfig()
    logger = get_run_logger()
    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    try:
        days = config.days(yesterday(settings.timezone))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    model_dir = resolve_model(root, config.model_version)
    version = posixpath.basename(model_dir.rstrip("/"))
    if config.dask_address:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=config.dask_address)
    else:
        runner = ThreadPoolTaskRunner(max_workers=config.max_workers)
    scorer = score_day_files.with_options(task_runner=runner)
    outcome: dict[str, Any] = {"model_version": version, "days": {}}
    refused: list[str] = []
    for day in days:
        files = list_batch_files(root, day)
        run_id = new_run_id()
        scored_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        if files:
            results = scorer(root, model_dir, day, files, run_id, scored_at)
        else:
            logger.warning("no reviews for %s: no batch files under %s", day, root.uri(root.incoming_dir(day)))
            results = []
        try:
            manifest = publish_scored_day(root, day, run_id, results, version, config.allow_empty)
        except EmptyRunRefused as exc:
            logger.error("%s", exc)
            refused.append(str(exc))
            continue
        summary = report(
            run_date=day,
            data_root=settings.data_root,
            model_version=model_dir,
            report_options=config.report.resolved(settings.report_thresholds),
            artifact_key_prefix=artifact_prefix(),
        )
        events = emit_report_events(summary, root.uri(root.path))
        outcome["days"][day.isoformat()] = {
            "scored": manifest["rows"],
            "quarantined": manifest["quarantined"],
            "duplicates": manifest.get("duplicates", 0),
            "report": summary.get("report_html"),
            "alerts": len(summary.get("alerts") or []),
            "events": events,
        }
        logger.info("%s: %d reviews scored, %d quarantined; report %s", day, manifest["rows"], manifest["quarantined"], summary.get("report_html"))
    if refused:
        raise EmptyRunRefused(" ".join(refused))
    return outcome


if __name__ == "__main__":
    nightly_scoring()
