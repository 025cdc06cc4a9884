"""Flow `report`: rebuild the nightly report of one day from the scored Parquet (DuckDB +
SQL files). The nightly flow builds each night's report with the same helper,
:func:`publish_day_report`, in its own run, so the night's page holds its report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import deployment, flow_run

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import ReportOptions, get_settings
from sentiment_model.model.registry import resolve_model_dir
from tasks.reporting import build_day_report, publish_report_artifacts
from tasks.scoring import champion_version


def artifact_prefix() -> str:
    """Artifact keys per deployment, so the UI keeps each deployment's report history
    (``nightly-scoring-report``; the ``report`` deployment's is ``report``); a run outside
    any deployment (the CLI, a test) keys its own: ``adhoc-<flow name>``."""
    return deployment.name or f"adhoc-{flow_run.flow_name or 'run'}"


def publish_day_report(root: DataRoot, day: dt.date, model_dir: str | None, options: ReportOptions, key_prefix: str | None = None) -> dict[str, Any]:
    """Build ``day``'s report (files under <root>/reports/date=D/) and publish it as
    artifacts of the current flow run (keys from ``key_prefix``, default
    :func:`artifact_prefix`). The one way both flows report a day."""
    summary = build_day_report(root, day, model_dir, options)
    keys = publish_report_artifacts(summary, key_prefix or artifact_prefix())
    get_run_logger().info("report for %s: %s (artifacts %s)", day, summary.get("report_html"), ", ".join(keys) or "unkeyed: no reviews")
    return summary


def report_run_name() -> str:
    """``report 2015-08-31``: the runs list and an artifact's history show the day."""
    run_date = flow_run.parameters.get("run_date")
    return f"report {run_date}" if run_date else "report"


@flow(name="report", flow_run_name=report_run_name)
def report(
    run_date: dt.date,
    data_root: str | None = None,
    model_version: str | None = None,
    report_options: ReportOptions | None = None,
    artifact_key_prefix: str | None = None,
) -> dict[str, Any]:
    """Rebuild a day's report: class distribution and drift effect sizes, trend and the
    strong view, input health, text drift, explanations of the worst reviews,
    most-negative products, confidence, and live quality per class against star
    ratings; written under <root>/reports/date=D/ and shown as artifacts of this run.
    ``model_version`` is a version or a model folder; ``report_options`` hold the window,
    the product support and the thresholds (default: the settings' ``report_thresholds``)."""
    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    reference = model_version or champion_version(root)
    model_dir = resolve_model_dir(root, reference) if reference else None
    summary = publish_day_report(root, run_date, model_dir, (report_options or ReportOptions()).resolved(settings.report_thresholds), artifact_key_prefix)
    return {k: v for k, v in summary.items() if k != "charts"}


if __name__ == "__main__":
    report(run_date=dt.date.today() - dt.timedelta(days=1))
