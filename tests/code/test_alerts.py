"""`sentiment alerts install`: the automations that turn alert events into notifications."""

from __future__ import annotations

import fnmatch
import uuid

import pytest
from typer.testing import CliRunner

from flows.alerts import NIGHTLY_FAILED, REPORT_ALERT, install_alerts
from flows.cli import app
from tasks.scoring import ALERT_EVENT_PREFIX

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
        return {a.name: a for a in client.read_automations() if a.name in (REPORT_ALERT, NIGHTLY_FAILED)}


def test_install_creates_event_triggered_automations_once(webhook_block):
    install_alerts(webhook_block)
    install_alerts(webhook_block)  # again: replaced, not duplicated
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        names = [a.name for a in client.read_automations()]
    assert names.count(REPORT_ALERT) == 1 and names.count(NIGHTLY_FAILED) == 1
    installed = _installed()
    alert_trigger = installed[REPORT_ALERT].trigger
    for kind in ("drift", "input-health", "live-quality", "no-reviews"):
        assert any(fnmatch.fnmatch(ALERT_EVENT_PREFIX + kind, pattern) for pattern in alert_trigger.expect)
    assert not any(fnmatch.fnmatch("review-sentiment.report.published", pattern) for pattern in alert_trigger.expect)
    failed = installed[NIGHTLY_FAILED].trigger
    assert failed.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert failed.match_related.model_dump() == {"prefect.resource.role": "flow", "prefect.resource.name": "nightly-scoring"}
    assert all(action.type == "send-notification" for a in installed.values() for action in a.actions)


def test_cli_names_a_missing_block_in_one_line_and_exits_2():
    result = CliRunner().invoke(app, ["alerts", "install", "--block", "slack-webhook/does-not-exist"], standalone_mode=False)
    assert isinstance(result.exception, SystemExit) and result.exception.code == 2
    assert "does-not-exist" in result.output and "Traceback" not in result.output
