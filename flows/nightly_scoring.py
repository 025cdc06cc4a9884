"""Flow `nightly-scoring` (scheduled 02:00): score a night's batch with the champion, then
report it in the same run (its Artifacts tab holds the report)."""

from __future__ import annotations

import datetime as dt
import posixpath
import zoneinfo
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.report import publish_day_report
from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.core.settings import get_settings, root_at
from sentiment_model.scoring.batch import EmptyRunRefused, MissingInput
from sentiment_model.scoring.config import ScoringConfig
from tasks.reporting import emit_report_events
from tasks.scoring import list_batch_files, publish_scored_day, resolve_model, score_batch_file


def yesterday(timezone: str) -> dt.date:
    return (dt.datetime.now(zoneinfo.ZoneInfo(timezone)) - dt.timedelta(days=1)).date()


def night_label(days: list[dt.date]) -> str:
    """``2015-08-31``, or ``2015-08-25..2015-08-31`` for a backfill."""
    return f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])


def nightly_run_name() -> str:
    """``nightly 2015-08-31`` (a backfill: ``nightly 2015-08-25..2015-08-31``): the night
    the run scores, as the flow computes it (no run_date: yesterday in the configured
    timezone), so the runs list and an artifact's history read as a calendar."""
    parameters = flow_run.parameters
    try:
        config = parameters.get("config") or ScoringConfig()
        if not isinstance(config, ScoringConfig):
            config = ScoringConfig.model_validate(config)
        return f"nightly {night_label(config.days(yesterday(get_settings(data_root=parameters.get('data_root')).timezone)))}"
    except Exception:  # a bad setting fails the run in its body, with its own message
        return "nightly"


def score_run_name() -> str:
    """``score 2015-08-31 (3 files)``."""
    parameters = flow_run.parameters
    return f"score {parameters.get('day')} ({files_phrase(len(parameters.get('files') or []))})"


def files_phrase(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


@flow(name="score-day-files", flow_run_name=score_run_name)
def score_day_files(data_root: str, model_dir: str, day: dt.date, files: list[str], run_id: str, scored_at: dt.datetime, progress_id: UUID | None = None) -> list[Any]:
    """Fan out one task per batch file on whichever task runner this subflow was given;
    ``progress_id``: the nightly run's progress artifact, moved as files finish. The data
    root comes as its URL, its storage options from this process's settings: never as a
    parameter, which Prefect would store."""
    root = root_at(data_root)
    futures = [score_batch_file.submit(root, model_dir, f, day, run_id, i, scored_at) for i, f in enumerate(files)]
    results = []
    for done, future in enumerate(futures, start=1):
        results.append(future.result())
        if progress_id is not None:
            update_progress_artifact(progress_id, progress=100.0 * done / len(futures))
    return results


@flow(name="nightly-scoring", flow_run_name=nightly_run_name)
def nightly_scoring(data_root: str | None = None, config: ScoringConfig | None = None) -> dict[str, Any]:
    """Score ``config.run_date`` (default: yesterday in the configured timezone), or every
    day up to ``config.end_date`` for a backfill, with the champion or a pinned
    ``model_version``, and report each day as artifacts of this run (the markdown report,
    a link to the HTML report, the tables, the scoring progress). Each day is replaced
    atomically, so reruns are safe. A ``dask_address`` fans the files out on a Dask
    cluster instead of local threads.

    A night with no batch file is not a success: it is neither scored nor reported, the
    other days still run, and the flow then fails naming the night and the folder
    searched, unless ``expect_empty_nights`` (then the night gets an empty report, kept
    off the keyed "latest" artifacts). A day that scores nothing never replaces a
    published day with reviews unless ``allow_empty``: likewise the other days run and
    the flow fails naming it. After each day's report, Prefect events announce it and its
    incidents (``flows/alerts.py`` turns them into notifications)."""
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
    report_options = config.report.resolved(settings.report_thresholds)
    outcome: dict[str, Any] = {"model_version": version, "days": {}}
    failures: list[str] = []
    missing_input = False
    for day in days:
        files = list_batch_files(root, day)
        run_id = new_run_id()
        scored_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        if files:
            progress = create_progress_artifact(progress=0.0, description=f"scoring {files_phrase(len(files))} of {day}")
            results = scorer(root.url, model_dir, day, files, run_id, scored_at, progress_id=progress)
        elif config.expect_empty_nights:
            logger.info("no reviews for %s: no batch files under %s (quiet nights are expected)", day, root.uri(root.incoming_dir(day)))
            results = []
        else:
            message = f"no input for {day}: no batch files under {root.uri(root.incoming_dir(day))}; set config.expect_empty_nights if quiet nights are normal"
            logger.error("%s", message)
            failures.append(message)
            missing_input = True
            continue
        try:
            manifest = publish_scored_day(root, day, run_id, results, version, config.allow_empty)
        except EmptyRunRefused as exc:
            logger.error("%s", exc)
            failures.append(str(exc))
            continue
        summary = publish_day_report(root, day, model_dir, report_options)
        events = emit_report_events(summary, root.uri(root.path))
        outcome["days"][day.isoformat()] = {
            "scored": manifest["rows"],
            "quarantined": manifest["quarantined"],
            "duplicates": manifest.get("duplicates", 0),
            "report": summary.get("report_html"),
            "incidents": [f"{i['severity']} ({i['status']}, night {i['age_nights']}): {i['message']}" for i in summary.get("incidents") or []],
            "events": events,
        }
        logger.info("%s: %d reviews scored, %d quarantined; report %s", day, manifest["rows"], manifest["quarantined"], summary.get("report_html"))
    if failures:
        raise (MissingInput if missing_input else EmptyRunRefused)(" ".join(failures))
    return outcome


if __name__ == "__main__":
    nightly_scoring()
