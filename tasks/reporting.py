"""Prefect tasks for the night's report: build it, put it on the run's page (artifacts),
and emit the events the automations turn into notifications."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.events import emit_event

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.settings import ReportOptions
from sentiment_model.model.loaded import loaded_model
from sentiment_model.reporting.context import model_context
from sentiment_model.reporting.rebuild import build_report_of_the_day_as_it_stands
from sentiment_model.reporting.render import summary_markdown
from tasks.retry import transient_storage_error


@task(name="build-report", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_storage_error, cache_policy=NONE)
def build_day_report(root: DataRoot, day: dt.date, model_dir: str | None, options: ReportOptions) -> dict[str, Any]:
    """The day's report; the model folder supplies the training reference (fingerprint),
    the test metrics, the vocabulary and the network for explanations."""
    context = model_context(root, model_dir, classifier=loaded_model(root, model_dir) if model_dir else None)
    return build_report_of_the_day_as_it_stands(root, day, context, options, get_run_logger().info)


@task(name="publish-report-artifacts", cache_policy=NONE)
def publish_report_artifacts(summary: dict[str, Any], key_prefix: str) -> list[str]:
    """The report on the run's page in the Prefect UI: the markdown (with every chart), a
    link to the full HTML report and the tables, keyed per ``key_prefix`` (the deployment)
    so the UI keeps their history and shows the latest. A day without reviews gets its
    markdown only, without a key: the latest report stays the last night that had
    reviews. Returns the keys written."""
    day = summary["date"]
    markdown = summary_markdown(summary)
    if not summary.get("reviews"):
        create_markdown_artifact(markdown=markdown, description=f"Review sentiment {day}: no reviews (not keyed: the latest report stays the last night with reviews)")
        return []
    keys: list[str] = []

    def keyed(name: str) -> str:
        keys.append(artifact_key(key_prefix, name))
        return keys[-1]

    create_markdown_artifact(key=keyed("report"), markdown=markdown, description=f"Review sentiment {day}")
    if summary.get("report_html"):
        create_link_artifact(
            key=keyed("report-html"), link=report_link(summary["report_html"]), link_text=f"Full HTML report of {day}", description=f"The full report of {day}: one self-contained HTML file"
        )
    tables = summary.get("tables") or {}
    # The monitor first: what a person checks in the morning (an empty table says "none").
    create_table_artifact(key=keyed("incidents"), table=_plain(tables.get("incidents") or []) or [{"incidents": "none"}], description=f"incidents {day}: new ones notify, continuing ones do not")
    if tables.get("signals"):
        create_table_artifact(key=keyed("monitor"), table=_plain(tables["signals"]), description=f"every monitored signal of {day}: value, threshold, chance level")
    if tables.get("class_distribution"):
        create_table_artifact(key=keyed("class-distribution"), table=_plain(tables["class_distribution"]), description=f"class distribution {day}")
    if tables.get("top_negative_products") is not None:
        create_table_artifact(key=keyed("negative-products"), table=_plain(tables["top_negative_products"]) or [{"product_id": "(none)"}], description=f"most negative products {day}")
    if tables.get("live_quality_per_class"):
        create_table_artifact(key=keyed("live-quality"), table=_plain(tables["live_quality_per_class"]), description=f"live quality per class against star ratings {day}")
    if tables.get("input_health"):
        create_table_artifact(key=keyed("input-health"), table=_plain(tables["input_health"]), description=f"input health {day}")
    return keys


def artifact_key(prefix: str, name: str) -> str:
    """``<prefix>-<name>`` as an artifact key (lowercase letters, digits and dashes), with a
    word that ends the prefix and starts the name said once: the ``report`` deployment's
    report is ``report`` and its table ``report-class-distribution``, never
    ``report-report``; ``nightly-scoring``'s are ``nightly-scoring-report`` and so on."""
    head, tail = _slug(prefix).split("-"), _slug(name).split("-")
    if head[-1] and head[-1] == tail[0]:
        tail = tail[1:]
    return "-".join(part for part in (*head, *tail) if part)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def report_link(report_uri: str) -> str:
    """Where a person opens the full HTML report: a ``gs://bucket/path`` is its
    https://storage.cloud.google.com/bucket/path page (the viewer's Google login
    decides access); anything else (a path on the worker) is given as it is."""
    for scheme in ("gs://", "gcs://"):
        if report_uri.startswith(scheme):
            return "https://storage.cloud.google.com/" + quote(report_uri.removeprefix(scheme))
    return report_uri


#: Event names the nightly flow emits; the automations in flows/alerts.py react to them.
REPORT_EVENT = "review-sentiment.report.published"
#: A new incident (notified when its severity is warning or page).
INCIDENT_OPENED = "review-sentiment.incident.opened"
#: An incident seen on an earlier night that still fires: its age grows, nobody is told again.
INCIDENT_CONTINUING = "review-sentiment.incident.continuing"


@task(name="emit-report-events", cache_policy=NONE)
def emit_report_events(summary: dict[str, Any], data_root_uri: str) -> list[str]:
    """One `review-sentiment.report.published` event per report, and one event per incident:
    `review-sentiment.incident.opened` for a new one, `...continuing` for one seen before.
    The incident's one-line message is its resource name, so the UI's event feed shows it.
    Returns the event names emitted."""
    night = summary["date"]
    found = summary.get("incidents") or []
    emitted = []
    published = emit_event(
        event=REPORT_EVENT,
        resource={"prefect.resource.id": f"review-sentiment.night.{night}", "prefect.resource.name": f"report of {night}", "review-sentiment.data-root": data_root_uri},
        payload={
            "date": night,
            "reviews": summary.get("reviews", 0),
            "incidents": len(found),
            "new_incidents": sum(i["status"] == "new" for i in found),
            "report": summary.get("report_html"),
            "model_version": summary.get("model_version"),
        },
    )
    if published is not None:
        emitted.append(REPORT_EVENT)
    logger = get_run_logger()
    for incident in found:
        name = INCIDENT_OPENED if incident["status"] == "new" else INCIDENT_CONTINUING
        (logger.warning if name == INCIDENT_OPENED else logger.info)("%s %s: %s", incident["severity"], incident["status"], incident["message"])
        resource = {
            "prefect.resource.id": f"review-sentiment.incident.{incident['id']}",
            "prefect.resource.name": incident["message"][:500],
            "review-sentiment.severity": incident["severity"],
            "review-sentiment.kind": incident["kind"],
            "review-sentiment.night": night,
            "review-sentiment.data-root": data_root_uri,
        }
        payload = {
            "date": night,
            **{k: incident[k] for k in ("severity", "kind", "title", "message", "age_nights", "first_seen")},
            "evidence": incident["evidence"][:20],
            "report": summary.get("report_html"),
        }
        if emit_event(event=name, resource=resource, payload=payload) is not None:
            emitted.append(name)
    return emitted


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for row in rows]
