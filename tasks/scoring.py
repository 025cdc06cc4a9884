"""Prefect tasks for nightly scoring: resolve the model, list the night's files, score
each, publish the day. The work is in ``sentiment_model.scoring``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from sentiment_model.core.layout import DataRoot
from sentiment_model.model.loaded import loaded_model
from sentiment_model.model.registry import read_champion, resolve_model_dir
from sentiment_model.scoring.batch import FileScore, list_day_files, publish_day, score_file
from tasks.retry import transient_storage_error


@task(name="resolve-model", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def resolve_model(root: DataRoot, model_version: str | None) -> str:
    """The pinned version, or the champion's; fails clearly if it does not exist."""
    folder = resolve_model_dir(root, model_version or "champion")
    return folder


@task(name="list-day-files", retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def list_batch_files(root: DataRoot, day: dt.date) -> list[str]:
    return list_day_files(root, day)


@task(name="score-file", task_run_name="score {source}", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def score_batch_file(root: DataRoot, model_dir: str, source: str, day: dt.date, run_id: str, part_index: int, scored_at: dt.datetime) -> FileScore:
    classifier = loaded_model(root, model_dir)
    result = score_file(root, classifier, source, day, run_id, part_index, scored_at)
    get_run_logger().info("%s: %d scored, %d quarantined", source, result.scored, result.quarantined)
    return result


@task(name="publish-scored-day", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def publish_scored_day(root: DataRoot, day: dt.date, run_id: str, results: list[FileScore], model_version: str, allow_empty: bool = False) -> dict[str, Any]:
    return publish_day(root, day, run_id, results, model_version, allow_empty=allow_empty)


def champion_version(root: DataRoot) -> str | None:
    champion = read_champion(root)
    return champion["version"] if champion else None
