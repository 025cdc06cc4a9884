"""Alerts: Prefect automations that turn the nightly flow's events into notifications.

Event triggers only (they run on a self-hosted Prefect server; metric triggers are
Prefect Cloud's). Two automations, sent to one notification block:

- ``Review sentiment: new incident (warning or page)``: a
  ``review-sentiment.incident.opened`` event (a new incident of a night's report, emitted
  by ``tasks.reporting.emit_report_events``) whose severity is warning or page. An incident
  seen on an earlier night (``review-sentiment.incident.continuing``) and an ``info`` one
  do not notify;
- ``Review sentiment: nightly run failed``: a ``nightly-scoring`` flow run that ends Failed
  or Crashed (a night without input, a refused empty day, an error). Its trigger has the
  shape of the UI's "flow run state" template, so the UI describes it in words.

Install (again: it replaces the two by name) with ``sentiment alerts install --block
<block-type-slug>/<block-name>``, e.g. ``slack-webhook/ops-channel``.
"""

from __future__ import annotations

from uuid import UUID

from prefect.automations import Automation
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

from tasks.reporting import INCIDENT_OPENED

NEW_INCIDENT = "Review sentiment: new incident (warning or page)"
NIGHTLY_FAILED = "Review sentiment: nightly run failed"
#: Names of earlier versions, removed by an install so that no old automation keeps firing.
FORMER_NAMES = ("review-sentiment: report alert", "review-sentiment: nightly run failed")
#: The incident severities that notify (``info`` is on the report and in the event feed only).
NOTIFIED_SEVERITIES = ("warning", "page")

_INCIDENT_SUBJECT = "[{{ event.payload.severity }}] review sentiment {{ event.payload.date }}: {{ event.payload.title }}"
_INCIDENT_BODY = (
    "{{ event.payload.title }}\n"
    "{{ event.payload.message }}\n"
    "Severity: {{ event.payload.severity }} ({{ event.payload.kind }}), night {{ event.payload.date }}, first seen {{ event.payload.first_seen }}\n"
    "Evidence:\n"
    "{% for line in event.payload.evidence %}- {{ line }}\n{% endfor %}"
    "Report: {{ event.payload.report }}\n"
    "Data root: {{ event.resource['review-sentiment.data-root'] }}"
)
_FAILED_SUBJECT = "{{ event.resource['prefect.resource.name'] }} ended {{ event.event.split('.')[-1] }}"
_FAILED_BODY = (
    "Flow run {{ event.resource['prefect.resource.name'] }} of {flow_name} ended {{{{ event.event.split('.')[-1] }}}}: {{{{ event.payload.get('validated_state', {{}}).get('message', '') }}}}"
)


def incident_trigger() -> EventTrigger:
    """Each new incident whose severity notifies, once."""
    return EventTrigger(
        expect={INCIDENT_OPENED},
        match={"prefect.resource.id": "review-sentiment.incident.*", "review-sentiment.severity": list(NOTIFIED_SEVERITIES)},
        posture=Posture.Reactive,
        threshold=1,
        within=0,
    )


def failed_run_trigger(flow_name: str, flow_id: UUID | None = None) -> EventTrigger:
    """A run of the flow entering Failed or Crashed. With the flow's id, the trigger is the
    one the UI's "flow run state" template writes (the UI then describes it instead of
    showing "A custom trigger"); without it (no server to ask), it matches the flow by name."""
    related = {"prefect.resource.role": "flow", **({"prefect.resource.id": [f"prefect.flow.{flow_id}"]} if flow_id else {"prefect.resource.name": flow_name})}
    return EventTrigger(
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related=related,
        for_each={"prefect.resource.id"},
        expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
        posture=Posture.Reactive,
        threshold=1,
        within=0,
    )


def alert_automations(block_document_id: UUID, flow_name: str = "nightly-scoring", flow_id: UUID | None = None) -> list[Automation]:
    """The two automations, not yet created."""
    severities = " or ".join(NOTIFIED_SEVERITIES)
    return [
        Automation(
            name=NEW_INCIDENT,
            description=(
                f"Fires on each {INCIDENT_OPENED} event whose review-sentiment.severity is {severities}: a night's report opened a new"
                " incident (drift, input health, live quality, no reviews...). Incidents that continue from an earlier night"
                " (review-sentiment.incident.continuing) and info ones do not notify. The message names the incident, its"
                " evidence and where the report is."
            ),
            trigger=incident_trigger(),
            actions=[SendNotification(block_document_id=block_document_id, subject=_INCIDENT_SUBJECT, body=_INCIDENT_BODY)],
        ),
        Automation(
            name=NIGHTLY_FAILED,
            description=(
                f"Fires when a {flow_name} flow run enters Failed or Crashed: a night without input (unless quiet nights are"
                " expected), a day that would replace published reviews with none, a bad model or data root, or a crash."
                " The message gives the run's name (its night) and its state message."
            ),
            trigger=failed_run_trigger(flow_name, flow_id),
            actions=[SendNotification(block_document_id=block_document_id, subject=_FAILED_SUBJECT, body=_FAILED_BODY.format(flow_name=flow_name))],
        ),
    ]


def notification_block_id(block: str) -> UUID:
    """The id of a saved notification block, named ``<block-type-slug>/<block-name>``."""
    from prefect.blocks.core import Block
    from prefect.blocks.notifications import NotificationBlock

    loaded = Block.load(block)
    if not isinstance(loaded, NotificationBlock):
        raise ValueError(f"block {block!r} is a {type(loaded).__name__}, not a notification block (Slack, e-mail, webhook...)")
    return loaded._block_document_id


def install_alerts(block: str, flow_name: str = "nightly-scoring") -> list[Automation]:
    """Create (or replace, by name) the two automations on the current Prefect API. The
    flow is registered on the server by name if it has not run there yet (as its first
    run would), so the failed-run trigger can name it by id."""
    from prefect.client.orchestration import get_client

    block_id = notification_block_id(block)
    created = []
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(flow_name)
        automations = alert_automations(block_id, flow_name, flow_id)
        for name in (*FORMER_NAMES, *(a.name for a in automations)):
            for existing in client.read_automations_by_name(name=name):
                client.delete_automation(existing.id)
        for automation in automations:
            created.append(automation.create())
    return created


if __name__ == "__main__":
    import sys

    # python -m flows.alerts <block-type-slug>/<name>: the same as `sentiment alerts install`.
    for created_automation in install_alerts(sys.argv[1]):
        print(f"automation {created_automation.name!r} ({created_automation.id}) -> {sys.argv[1]}")
