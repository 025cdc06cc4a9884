"""Flow `report`: the nightly report for one day from the scored Parquet (DuckDB + SQL files)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import deployment

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import ReportOptions, get_settings
from sentiment_model.model.registry import resolve_model_dir
from tasks.scoring import build_day_report, champion_version, publish_report_artifacts


def artifact_prefix() -> str:
    """Artifact keys per deployment, so the UI keeps each deployment's report history."""
    return (deployment.name or "adhoc").lower().replace("_", "-").replace(" ", "-")


@flow(name="report")
def report(
    run_date: dt.date,
    data_root: str | None = None,
    model_version: str | None = None,
    report_options: ReportOptions | None = None,
    artifact_key_prefix: str | None = None,
) -> dict[str, Any]:
    """Class distribution and drift effect sizes, trend and the strong view, input health,
    text drift, explanations of the worst reviews, most-negative products, confidence, and
    live quality per class against star ratings; written under <root>/reports/date=D/ and
    shown as artifacts in the UI. ``model_version`` is a version or a model folder;
    ``report_options`` hold the window, the product support and the thresholds (default: the
    settings' ``report_thresholds``). The summary's
    ``alerts`` list the thresholds crossed."""
    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    reference = model_version or champion_version(root)
    model_dir = resolve_model_dir(root, reference) if reference else None
    summary = build_day_report(root, run_date, model_dir, (report_options or ReportOptions()).resolved(settings.report_thresholds))
    publish_report_artifacts(summary, artifact_key_prefix or artifact_prefix())
    get_run_logger().info("report for %s: %s (%d alerts)", run_date, summary["report_html"], len(summary.get("alerts") or []))
    return {k: v for k, v in summary.items() if k != "charts"}


if __name__ == "__main__":
    report(run_date=dt.date.today() - dt.timedelta(days=1))
