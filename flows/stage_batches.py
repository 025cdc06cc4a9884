"""Flow `stage_batches`: replay canonical reviews as nightly batches under <root>/incoming/."""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from sentiment_model.core.errors import check_date_range
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import get_settings
from sentiment_model.ingest.canonical import read_canonical, write_incoming_batches
from tasks.retry import transient_storage_error


@task(name="write-incoming-batches", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def stage_days(root: DataRoot, start: dt.date | None, end: dt.date | None) -> dict[str, int]:
    return write_incoming_batches(root, read_canonical(root, start=start, end=end))


@flow(name="stage-batches")
def stage_batches(start: dt.date | None = None, end: dt.date | None = None, data_root: str | None = None) -> dict[str, int]:
    """Write the canonical reviews dated in [start, end] as one Parquet batch per day,
    the shape the nightly scoring flow consumes."""
    check_date_range(start, end)
    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    counts = stage_days(root, start, end)
    days = [d for d in counts if d != "undated"]
    get_run_logger().info(
        "staged %d reviews over %d days (%s .. %s) under %s; %d undated reviews skipped",
        sum(v for k, v in counts.items() if k != "undated"),
        len(days),
        min(days, default="-"),
        max(days, default="-"),
        root.uri(root.incoming_dir()),
        counts.get("undated", 0),
    )
    return counts


if __name__ == "__main__":
    stage_batches()
