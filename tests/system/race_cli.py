"""The `sentiment` CLI with two doubles, for the CLI races:
``python -m tests.system.race_cli score --run-date D --data-root R``.

Everything a real `sentiment score` does runs (argument checks, the champion's files
checked and resolved, a Prefect flow run and its task runs on the API, reading the
night's files, writing the parts, the manifest swap, the report's queries over the day
as it stands and its files written); only two pure computations are doubles, because
the race is the files and not what is computed from them:
- the network: the racing processes do not each import TensorFlow and load the model
  (~8 s of CPU apiece);
- the chart drawing: every chart is written, as a placeholder PNG, but none is drawn
  (~1 s of CPU apiece; the charts are a function of the report's summary, tested in
  ``tests/unit/reporting/``).
The real network runs in a `sentiment score` process in ``test_corrupt_batch_cli.py``
and on the worker of ``test_deployed_nightly_scoring.py``."""

from __future__ import annotations

from typing import Any

# A PNG signature: a file the report writes and embeds like any chart.
PLACEHOLDER_PNG = b"\x89PNG\r\n\x1a\n"


def publishing_only(root: Any, model_dir: str) -> Any:
    from tests.system.race_workers import PublishingOnlyClassifier

    return PublishingOnlyClassifier()


def charts_not_drawn(summary: dict[str, Any], histogram: list[dict], window_days: int) -> dict[str, bytes]:
    from sentiment_model.reporting.charts import CHARTS

    return dict.fromkeys(CHARTS, PLACEHOLDER_PNG)


if __name__ == "__main__":
    from flows.cli import main
    from sentiment_model.model import loaded
    from sentiment_model.reporting import reports

    loaded.load_model_dir = publishing_only
    reports.report_charts = charts_not_drawn
    main()
