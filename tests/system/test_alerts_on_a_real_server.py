"""The automations of `flows/alerts.py` on a real Prefect server (its triggers and actions
services on, as by default): a webhook notification block pointing at an HTTP server this
test runs on 127.0.0.1 receives a new warning incident and a failed nightly run, and
nothing for an incident that continues from an earlier night or an info one."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from flows.alerts import NEW_INCIDENT, NIGHTLY_FAILED
from tasks.reporting import INCIDENT_CONTINUING, INCIDENT_OPENED
from tests.processes import PROJECT_ROOT, prefect_server

pytestmark = [pytest.mark.e2e]

NIGHT = "2015-08-31"
REPORT = "/data/reports/date=2015-08-31/report.html"


class Webhook:
    """An HTTP server on 127.0.0.1 that keeps the JSON body of every POST."""

    def __init__(self) -> None:
        received: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                received.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        return list(self.received)


def _python(code: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


INSTALL = """
import sys
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from flows.alerts import install_alerts

CustomWebhookNotificationBlock(name="e2e", url=sys.argv[1], json_data={"subject": "{{subject}}", "body": "{{body}}"}).save("e2e-alerts")
for automation in install_alerts("custom-webhook/e2e-alerts"):
    print(automation.name)
"""

#: Incidents as the nightly flow emits them (tasks.reporting.emit_report_events).
EMIT = """
import json, sys
from prefect.events import emit_event
from prefect.events.worker import EventsWorker

night, report, incidents = json.loads(sys.argv[1])
for name, incident_id, severity, message in incidents:
    emit_event(
        event=name,
        resource={
            "prefect.resource.id": f"review-sentiment.incident.{incident_id}",
            "prefect.resource.name": message,
            "review-sentiment.severity": severity,
            "review-sentiment.kind": "drift",
            "review-sentiment.night": night,
            "review-sentiment.data-root": "/data",
        },
        payload={
            "date": night, "severity": severity, "kind": "drift", "title": f"title of {incident_id}", "message": message,
            "age_nights": 1, "first_seen": night, "evidence": [f"evidence of {incident_id}"], "report": report,
        },
    )
EventsWorker.drain_all(timeout=30)
"""


def test_a_new_warning_incident_and_a_failed_night_reach_the_webhook_and_nothing_else(tmp_path):
    webhook = Webhook()
    try:
        with prefect_server(tmp_path) as (api, env):
            installed = _python(INSTALL, env, webhook.url).split("\n")
            assert NEW_INCIDENT in installed and NIGHTLY_FAILED in installed
            time.sleep(2)  # the triggers service takes the new automations from the database
            incidents = [
                (INCIDENT_OPENED, "live-quality", "info", "live macro-F1 dipped a little"),  # info: not notified
                (INCIDENT_CONTINUING, "input-health", "page", "half the reviews are not English"),  # seen before: not notified
                (INCIDENT_OPENED, "drift-classes", "warning", "negative share 41% vs 18% in the trailing week"),
            ]
            _python(EMIT, env, json.dumps([NIGHT, REPORT, incidents]))
            received = webhook.wait(1, 90)
            assert len(received) == 1, received
            subject, body = received[0]["subject"], received[0]["body"]
            assert subject == f"[warning] review sentiment {NIGHT}: title of drift-classes"
            for text in ("negative share 41% vs 18% in the trailing week", "Severity: warning (drift)", "- evidence of drift-classes", f"Report: {REPORT}"):
                assert text in body, body

            # A nightly-scoring run that fails, as a night without input does.
            flow_id = httpx.post(f"{api}/flows/filter", json={"flows": {"name": {"any_": ["nightly-scoring"]}}}, timeout=10).json()[0]["id"]  # registered by the install
            run = httpx.post(f"{api}/flow_runs/", json={"flow_id": flow_id, "name": "nightly 2015-09-01"}, timeout=10).json()
            message = "no input for 2015-09-01: no batch files under /data/incoming/date=2015-09-01"
            for state in ({"type": "RUNNING"}, {"type": "FAILED", "message": message}):
                response = httpx.post(f"{api}/flow_runs/{run['id']}/set_state", json={"state": state, "force": True}, timeout=10)
                assert response.status_code in (200, 201), response.text
            received = webhook.wait(2, 90)
            assert len(received) == 2, received
            assert received[1]["subject"] == "nightly 2015-09-01 ended Failed", received[1]
            assert message in received[1]["body"]
            time.sleep(3)  # nothing late for the info or the continuing incident
            assert len(webhook.received) == 2, webhook.received
    finally:
        webhook.server.shutdown()
