"""The simulator's in-memory records: incidents, alerts, escalations (and their drafts), heartbeat pings."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IncidentRecord:
    incident: dict[str, Any]  # the REST IncidentV2 object the tools return
    arguments: dict[str, Any]  # incident_create's arguments
    updates: list[dict[str, Any]] = field(default_factory=list)  # each incident_update's arguments


@dataclass
class AlertRecord:
    alert: dict[str, Any]  # the REST AlertV2 object
    arguments: dict[str, Any]  # the first event's body
    events: int = 1


@dataclass
class EscalationDraft:
    suggestion_id: str
    arguments: dict[str, Any]
    suggestion: dict[str, Any]
    escalation_id: str | None = None  # set once executed


@dataclass
class EscalationRecord:
    escalation: dict[str, Any]  # the REST EscalationV2 object
    arguments: dict[str, Any]  # the draft's arguments (what was paged)
    suggestion_id: str


@dataclass
class HeartbeatRecord:
    id: str
    alert_source_config_id: str
    method: str
    received_at: str


@dataclass
class SimState:
    """Everything the tools and REST endpoints change; `reset` is a fresh instance."""

    incidents: dict[str, IncidentRecord] = field(default_factory=dict)  # insertion order = creation order
    incident_ids_by_idempotency_key: dict[str, str] = field(default_factory=dict)
    last_incident_number: int = 0
    alerts: dict[str, AlertRecord] = field(default_factory=dict)
    alert_ids_by_source_and_key: dict[tuple[str, str], str] = field(default_factory=dict)
    drafts: dict[str, EscalationDraft] = field(default_factory=dict)
    escalations: dict[str, EscalationRecord] = field(default_factory=dict)
    escalation_ids_by_idempotency_key: dict[str, str] = field(default_factory=dict)
    heartbeats: list[HeartbeatRecord] = field(default_factory=list)

    def find_incident(self, reference: str) -> IncidentRecord | None:
        """By ID, by reference ("INC-7", any case) or by bare number ("7"), as incident_show accepts."""
        if reference in self.incidents:
            return self.incidents[reference]
        wanted = reference.strip().upper()
        if wanted.isdigit():
            wanted = f"INC-{int(wanted)}"
        return next((r for r in self.incidents.values() if r.incident["reference"] == wanted), None)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """What `GET /_sim/state` shows: each item's id, status, name/title and the arguments it came from."""
        return {
            "incidents": [
                {
                    "id": r.incident["id"],
                    "reference": r.incident["reference"],
                    "status": r.incident["incident_status"]["name"],
                    "status_category": r.incident["incident_status"]["category"],
                    "name": r.incident["name"],
                    "severity": (r.incident.get("severity") or {}).get("name"),
                    "mode": r.incident["mode"],
                    "arguments": copy.deepcopy(r.arguments),
                    "updates": copy.deepcopy(r.updates),
                }
                for r in self.incidents.values()
            ],
            "alerts": [
                {
                    "id": r.alert["id"],
                    "status": r.alert["status"],
                    "title": r.alert["title"],
                    "deduplication_key": r.alert["deduplication_key"],
                    "alert_source_config_id": r.alert["alert_source_id"],
                    "events": r.events,
                    "arguments": copy.deepcopy(r.arguments),
                }
                for r in self.alerts.values()
            ],
            "escalations": [
                {
                    "id": r.escalation["id"],
                    "status": r.escalation["status"],
                    "title": r.escalation["title"],
                    "suggestion_id": r.suggestion_id,
                    "arguments": copy.deepcopy(r.arguments),
                }
                for r in self.escalations.values()
            ],
            "heartbeats": [
                {
                    "id": h.id,
                    "status": "received",
                    "name": h.alert_source_config_id,
                    "received_at": h.received_at,
                    "arguments": {"method": h.method, "alert_source_config_id": h.alert_source_config_id},
                }
                for h in self.heartbeats
            ],
        }
