"""`sentiment alerts install`: the automations that turn new incidents and failed nightly
runs into notifications."""

from __future__ import annotations

import fnmatch
import uuid

import pytest
from typer.testing import CliRunner

from flows.alerts import FORMER_NAMES, NEW_INCIDENT, NIGHTLY_FAILED, alert_automations, incident_trigger, install_alerts
from flows.cli import app
from tasks.reporting import INCIDENT_CONTINUING, INCIDENT_OPENED

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def webhook_block() -> str:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"alerts-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(name="test", url="http://127.0.0.1:9/hook", json_data={"text": "{{subject}}: {{body}}"}).save(name)
    return f"custom-webhook/{name}"


def _installed() -> dict:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {a.name: a for a in client.read_automations() if a.name in (NEW_INCIDENT, NIGHTLY_FAILED)}


def _fires(trigger, event: str, resource: dict[str, str]) -> bool:
    """Whether ``trigger`` (expect + match on the event's own resource) takes the event."""
    expected = any(fnmatch.fnmatch(event, pattern) for pattern in trigger.expect)
    matched = all(any(fnmatch.fnmatch(resource.get(label, ""), value) for value in (values if isinstance(values, list) else [values])) for label, values in trigger.match.model_dump().items())
    return expected and matched


def test_install_creates_readable_event_triggered_automations_once(webhook_block):
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.events.actions import DoNothing

    Automation(name=FORMER_NAMES[0], trigger=incident_trigger(), actions=[DoNothing()]).create()  # an earlier version's: replaced too
    install_alerts(webhook_block)
    install_alerts(webhook_block)  # again: replaced, not duplicated
    with get_client(sync_client=True) as client:
        names = [a.name for a in client.read_automations()]
        flow_id = client.read_flow_by_name("nightly-scoring").id  # registered by the install
    assert names.count(NEW_INCIDENT) == 1 and names.count(NIGHTLY_FAILED) == 1 and not set(FORMER_NAMES) & set(names)
    installed = _installed()
    incident = installed[NEW_INCIDENT].trigger

    def resource(severity: str) -> dict[str, str]:
        return {"prefect.resource.id": "review-sentiment.incident.drift-classes", "review-sentiment.severity": severity}

    assert _fires(incident, INCIDENT_OPENED, resource("warning")) and _fires(incident, INCIDENT_OPENED, resource("page"))
    assert not _fires(incident, INCIDENT_OPENED, resource("info"))
    assert not _fires(incident, INCIDENT_CONTINUING, resource("page"))
    assert not _fires(incident, "review-sentiment.report.published", resource("page"))
    # The failed-run trigger is the UI's "flow run state" template: the UI describes it in words.
    failed = installed[NIGHTLY_FAILED].trigger
    assert failed.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert failed.match.model_dump() == {"prefect.resource.id": "prefect.flow-run.*"}
    assert failed.match_related.model_dump() == {"prefect.resource.role": "flow", "prefect.resource.id": [f"prefect.flow.{flow_id}"]}
    assert failed.for_each == {"prefect.resource.id"} and failed.threshold == 1
    for automation in installed.values():
        assert all(action.type == "send-notification" for action in automation.actions)
        assert "Fires " in automation.description
    assert "warning or page" in installed[NEW_INCIDENT].description and "Failed or Crashed" in installed[NIGHTLY_FAILED].description


def test_without_the_flow_id_the_failed_run_trigger_matches_the_flow_by_name():
    failed = alert_automations(uuid.UUID(int=1), "nightly-scoring")[1].trigger
    assert failed.match_related.model_dump() == {"prefect.resource.role": "flow", "prefect.resource.name": "nightly-scoring"}


def test_cli_names_a_missing_block_in_one_line_and_exits_2():
    result = CliRunner().invoke(app, ["alerts", "install", "--block", "slack-webhook/does-not-exist"], standalone_mode=False)
    assert isinstance(result.exception, SystemExit) and result.exception.code == 2
    assert "does-not-exist" in result.output and "Traceback" not in result.output
