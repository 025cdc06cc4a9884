"""Flow `demo`: the whole pipeline on the shared corpus, for a first run on a new machine."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from flows.ingest import ingest
from flows.stage_batches import stage_batches
from sentiment_model.layout import DataRoot
from sentiment_model.settings import get_settings

#: The busiest stretch of the shared corpus (the AWS TSV heads end on 2015-08-31).
DEMO_BATCH_START = dt.date(2015, 8, 1)
DEMO_BATCH_END = dt.date(2015, 8, 31)


@flow(name="demo")
def demo(data_root: str | None = None) -> dict[str, Any]:
    """Ingest the shared corpus, then stage a month of it as nightly batches."""
    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    report = ingest(data_root=settings.data_root)
    counts = stage_batches(start=DEMO_BATCH_START, end=DEMO_BATCH_END, data_root=settings.data_root)
    staged = sum(v for k, v in counts.items() if k != "undated")
    return {
        "ingest": report,
        "lines": [
            f"canonical snapshot: {root.uri(root.join(report['pointer']['snapshot']))}",
            f"nightly batches: {staged} reviews in {len(counts) - 1} days under {root.uri(root.incoming_dir())}",
        ],
    }


if __name__ == "__main__":
    demo()
