"""Alerts: Prefect automations that turn the nightly flow's events into notifications.

Event triggers only (they run on a self-hosted Prefect server; metric triggers are
Prefect Cloud's). Two automations, sent to one notification block:

- ``review-sentiment: report alert``: any ``review-sentiment.alert.*`` event (drift,
  input-health, live-quality, no-reviews), emitted by ``tasks.scoring.emit_report_events``;
- ``review-sentiment: nightly run failed``: a ``nightly-scoring`` flow run that ends Failed
  or Crashed.

Install (again: it replaces the two by name) with ``sentiment alerts install --block
<block-type-slug>/<block-name>``, e.g. ``slack-webhook/ops-channel``.
"""

from __future__ import annotations

from uuid import UUID

from prefect.automations import Automation
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

from tasks.scoring import ALERT_EVENT_PREFIX

REPORT_ALERT = "review-sentiment: report alert"
NIGHTLY_FAILED = "review-sentiment: nightly run failed"

_ALERT_BODY = (
    "{{ event.event }} for {{ event.resource['prefect.resource.name'] }} "
    "(data root {{ event.resource['review-sentiment.data-root'] }}):\n"
    "{% for message in event.payload.messages %}- {{ message }}\n{% endfor %}"
    "Report: {{ event.payload.report }}"
)
_FAILED_BODY = "Flow run {{ event.resource['prefect.resource.name'] }} of nightly-scoring ended {{ event.event.split('.')[-1] }}: {{ event.payload.get('validated_state', {}).get('message', '') }}"


def alert_automations(block_document_id: UUID, flow_name: str = "nightly-scoring") -> list[Automation]:
    """The two automations, not yet created."""
    notify_alert = SendNotification(block_document_id=block_document_id, subject="Review sentiment alert: {{ event.event }}", body=_ALERT_BODY)
    notify_failed = SendNotification(block_document_id=block_document_id, subject=f"{flow_name} run failed", body=_FAILED_BODY)
    return [
        Automation(
            name=REPORT_ALERT,
            description="A nightly report crossed a drift, input-health or live-quality threshold, or the day had no reviews.",
            trigger=EventTrigger(expect={f"{ALERT_EVENT_PREFIX}*"}, posture=Posture.Reactive, threshold=1, within=0),
            actions=[notify_alert],
        ),
        Automation(
            name=NIGHTLY_FAILED,
            description=f"A {flow_name} flow run ended Failed or Crashed.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
                match_related={"prefect.resource.role": "flow", "prefect.resource.name": flow_name},
                posture=Posture.Reactive,
                threshold=1,
                within=0,
            ),
            actions=[notify_failed],
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
    """Create (or replace, by name) the two automations on the current Prefect API."""
    from prefect.client.orchestration import get_client

    block_id = notification_block_id(block)
    created = []
    with get_client(sync_client=True) as client:
        for automation in alert_automations(block_id, flow_name):
            for existing in client.read_automations_by_name(name=automation.name):
                client.delete_automation(existing.id)
            created.append(automation.create())
    return created


if __name__ == "__main__":
    import sys

    # python -m flows.alerts <block-type-slug>/<name>: the same as `sentiment alerts install`.
    for created_automation in install_alerts(sys.argv[1]):
        print(f"automation {created_automation.name!r} ({created_automation.id}) -> {sys.argv[1]}")
