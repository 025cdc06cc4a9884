"""A report that reads a day while a newer run of that day republishes it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import ReportOptions
from sentiment_model.reporting.context import ModelContext
from sentiment_model.reporting.reports import build_report

#: How often a report is rebuilt when its day is republished under it (concurrent runs).
REPORT_REBUILDS = 5  # each rebuild follows a newer run's publish, so this bounds concurrent runs, not time


def build_report_of_the_day_as_it_stands(root: DataRoot, day: dt.date, context: ModelContext | None, options: ReportOptions, log: Callable[[str], None]) -> dict[str, Any]:
    """The day's report. A newer run of the same day may publish (and clear older runs'
    files) while the report reads them: then the report is rebuilt from the day as it now
    stands."""
    for attempt in range(REPORT_REBUILDS + 1):
        published = published_run(root, day)  # also clears the listing cache DuckDB reads through
        try:
            return build_report(root, day, context, options=options)
        except (FileNotFoundError, duckdb.Error) as exc:
            # DuckDB reports a part that vanished under it as its own error (IOException, or
            # its base Error with gcsfs's FileNotFoundError inside). A published manifest
            # never names a missing file (compare-and-swap; clean-up only removes older
            # runs), so if the day's manifest moved meanwhile a newer run replaced the day
            # under the report: read the day again, past any listing cache. Otherwise the
            # error is real and is raised.
            if attempt == REPORT_REBUILDS or published_run(root, day) == published:
                raise
            log(f"{day} was republished while its report was built ({str(exc).splitlines()[0][:200]}): rebuilding the report")
    raise AssertionError("unreachable")


def published_run(root: DataRoot, day: dt.date) -> str | None:
    """The run id the day's manifest names now (None: the day was never published). Clears
    the process's listing cache first: gcsfs caches folder listings and DuckDB's globs go
    through them, so a cache from before a run published would hide its parts."""
    root.fs.invalidate_cache()
    path = root.scored_manifest(day)
    return root.read_json(path)["run_id"] if root.exists(path) else None
