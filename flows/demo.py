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
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import get_settings
from sentiment_model.scoring.config import ScoringConfig
from sentiment_model.training.config import RetrainConfig, TrainConfig

#: The last week of the AWS TSV heads (they end on 2015-08-31): the busiest days of the corpus.
DEMO_FIRST_DAY = dt.date(2015, 8, 25)
DEMO_LAST_DAY = dt.date(2015, 8, 31)


#: The demo's model: small enough for a first run on 2 cores (one network, a 9K subsample),
#: trained only on reviews dated before the replayed week, as a production retrain would
#: be, so the report's live quality is measured on reviews the model never saw.
DEMO_RETRAIN = RetrainConfig(sample_size=9_000, train_before=DEMO_FIRST_DAY, train=TrainConfig(ensemble_size=1, distill=False, epochs=2))


@flow(name="demo")
def demo(data_root: str | None = None, config: RetrainConfig = DEMO_RETRAIN) -> dict[str, Any]:
    """Ingest the shared corpus, train a small model on the reviews dated before the
    replayed week, replay that week as nightly batches, score each night and write the
    reports."""
    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    report = ingest(data_root=settings.data_root)
    model = retrain(data_root=settings.data_root, config=config)
    counts = stage_batches(start=DEMO_FIRST_DAY - dt.timedelta(days=30), end=DEMO_LAST_DAY, data_root=settings.data_root)
    scoring = nightly_scoring(data_root=settings.data_root, config=ScoringConfig(run_date=DEMO_FIRST_DAY, end_date=DEMO_LAST_DAY))
    staged = sum(v for k, v in counts.items() if k != "undated")
    last = scoring["days"][DEMO_LAST_DAY.isoformat()]
    return {
        "ingest": report,
        "lines": [
            f"canonical snapshot: {root.uri(root.from_relative(report['pointer']['snapshot']))}",
            f"model {model['version']} (trained on reviews before {config.train_before}): {model['metrics']['comparison_with_baseline']['line']}; {model['decision']['reason']}",
            f"nightly batches: {staged} reviews in {len(counts) - 1} days under {root.uri(root.incoming_dir())}",
            f"scored {DEMO_FIRST_DAY} .. {DEMO_LAST_DAY}: " + ", ".join(f"{d[5:]} {v['scored']}" for d, v in scoring["days"].items()),
            *[f"{d}: " + ("; ".join(v["incidents"]) if v["incidents"] else "no incident") for d, v in scoring["days"].items()],
            f"HTML report for {DEMO_LAST_DAY}: {last['report']}",
        ],
    }


if __name__ == "__main__":
    demo()
