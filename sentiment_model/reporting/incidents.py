"""Incidents, not signals: a night's fired signals of one kind are one incident with its
evidence listed, and an incident still firing on a later night is the same incident,
older, not a new alert.

Severity rules (``docs/operations.md`` and ``docs/architecture.md`` say the same):

- **page**: a new incident about live quality (the model disagrees with the customers'
  own stars beyond chance), or a new incident whose strongest signal is at least
  ``page_ratio`` times its threshold (a broken model or pipeline looks like this).
- **warning**: any other new incident: a real change that someone should look at today.
- **info**: an incident that continues from an earlier night: already notified, shown
  with its age, not sent again. It keeps the severity it opened with as ``opened_as``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sentiment_model.core.settings import ReportThresholds
from sentiment_model.reporting.signals import KINDS

SEVERITIES = ("info", "warning", "page")
#: An incident seen within this many nights before continues (a night without a report, or a
#: small night where it could not be seen, does not end it); after that it is new again.
CONTINUE_WITHIN_DAYS = 3


def open_incidents(day: dt.date, signals: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]] | None, thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """The night's incidents, one per kind with a fired signal, new ones first.
    ``previous`` are the latest incident of each kind seen within
    :data:`CONTINUE_WITHIN_DAYS` nights before (empty or None: every incident is new)."""
    earlier = {incident["kind"]: incident for incident in previous or []}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for signal in signals:
        if signal["fired"]:
            by_kind.setdefault(signal["kind"], []).append(signal)
    incidents = []
    for kind, evidence in by_kind.items():
        evidence = sorted(evidence, key=lambda s: -s["ratio"])
        strongest = evidence[0]
        prior = earlier.get(kind)
        if prior:
            first_seen = dt.date.fromisoformat(prior["first_seen"])
            identity, status, severity, opened_as = prior["id"], "continuing", "info", prior.get("opened_as", prior["severity"])
        else:
            first_seen = day
            identity, status = f"{kind}-{day.isoformat()}", "new"
            severity = "page" if kind == "quality" or strongest["ratio"] >= thresholds.page_ratio else "warning"
            opened_as = severity
        age = (day - first_seen).days + 1
        more = f"; {len(evidence) - 1} more signal{'s' if len(evidence) > 2 else ''}" if len(evidence) > 1 else ""
        since = f" (night {age}, since {first_seen.isoformat()})" if status == "continuing" else ""
        incidents.append(
            {
                "id": identity,
                "kind": kind,
                "title": KINDS[kind],
                "severity": severity,
                "opened_as": opened_as,
                "status": status,
                "first_seen": first_seen.isoformat(),
                "age_nights": age,
                "message": f"{KINDS[kind].capitalize()}{since}: {strongest['message']}{more}",
                "strength": strongest["ratio"],
                "evidence": [s["message"] for s in evidence],
                "signals": [f"{s['measure']} vs {s['reference']}" for s in evidence],
            }
        )
    return sorted(incidents, key=lambda i: (i["status"] != "new", -SEVERITIES.index(i["opened_as"]), -i["strength"]))


def carried(earlier_nights: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The latest incident of each kind over the incidents of earlier nights, newest night
    first (at most :data:`CONTINUE_WITHIN_DAYS` of them): what tonight may continue."""
    found: dict[str, dict[str, Any]] = {}
    for night in earlier_nights[:CONTINUE_WITHIN_DAYS]:
        for incident in night:
            found.setdefault(incident["kind"], incident)
    return list(found.values())


def notifying(incidents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The incidents a person is told about tonight: new ones, warning or page."""
    return [i for i in incidents if i["status"] == "new" and i["severity"] in ("warning", "page")]


def headline(incidents: Sequence[dict[str, Any]]) -> str:
    """One line for the top of the report: the state of the night at a glance."""
    if not incidents:
        return "no incident: nothing changed beyond its threshold and beyond chance"
    new = notifying(incidents)
    worst = max((i["severity"] for i in new), key=SEVERITIES.index, default=None)
    parts = [f"{len(new)} new incident{'s' if len(new) != 1 else ''}" + (f" (worst: {worst})" if worst else "")]
    continuing = len(incidents) - len(new)
    if continuing:
        parts.append(f"{continuing} continuing")
    return ", ".join(parts)
