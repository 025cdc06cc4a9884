"""Flow `demo`: the whole pipeline on the shared corpus, for a first run on a new machine:
ingest -> retrain (small, CPU) -> stage nightly batches -> nightly scoring -> report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from flows.ingest import ingest
from flows.nightly_scoring import nightly_scoring
from flows.retrain import retrain
from flows.stage_batches import stage_batches
from sentiment_model.layout import DataRoot
from sentiment_model.settings import get_settings

#: The last week of the AWS TSV heads (they end on 2015-08-31): the busiest days of the corpus.
DEMO_FIRST_DAY = dt.date(2015, 8, 25)
DEMO_LAST_DAY = dt.date(2015, 8, 31)


@flow(name="demo")
def demo(data_root: str | None = None, sample_size: int = 9_000, epochs: int = 2) -> dict[str, Any]:
    """Ingest the shared corpus, train a small model, replay a week as nightly batches,
    score each night and write the reports."""
    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    report = ingest(data_root=settings.data_root)
    model = retrain(data_root=settings.data_root, sample_size=sample_size, epochs=epochs, ensemble_size=1)
    counts = stage_batches(start=DEMO_FIRST_DAY - dt.timedelta(days=30), end=DEMO_LAST_DAY, data_root=settings.data_root)
    scoring = nightly_scoring(run_date=DEMO_FIRST_DAY, end_date=DEMO_LAST_DAY, data_root=settings.data_root)
    staged = sum(v for k, v in counts.items() if k != "undated")
    last = scoring["days"][DEMO_LAST_DAY.isoformat()]
    test, baseline = model["metrics"]["test"], model["metrics"]["baseline_tfidf_lr"]
    return {
        "ingest": report,
        "lines": [
            f"canonical snapshot: {root.uri(root.join(report['pointer']['snapshot']))}",
            f"model {model['version']}: test macro-F1 {test['macro_f1']:.4f} (TF-IDF+LR {baseline['macro_f1']:.4f}); {model['decision']['reason']}",
            f"nightly batches: {staged} reviews in {len(counts) - 1} days under {root.uri(root.incoming_dir())}",
            f"scored {DEMO_FIRST_DAY} .. {DEMO_LAST_DAY}: " + ", ".join(f"{d[5:]} {v['scored']}" for d, v in scoring["days"].items()),
            f"HTML report for {DEMO_LAST_DAY}: {last['report']}",
        ],
    }


if __name__ == "__main__":
    demo()
