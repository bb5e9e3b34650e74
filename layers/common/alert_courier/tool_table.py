"""The one table of incident.io MCP tool names and how each action's arguments are built for them.

The official schemas are not published; these mappings follow ../shared/reference/incidentio-mcp.md and
every call is checked against the server's advertised input schema before it is sent (fail closed).
Optional arguments are only sent when the advertised schema has them (e.g. `idempotency_key`).
"""

from __future__ import annotations

from typing import Any

from .actions import OpenIncident, ResolveIncident
from .organisation import Organisation

TOOLS: dict[str, str] = {
    "open_incident": "incident_create",
    "update_incident": "incident_update",
    "resolve_incident": "incident_update",
    "find_incidents": "incident_list",
    "show_incident": "incident_show",
    "create_escalation": "escalation_create",
    "find_escalations": "escalation_list",
    "show_escalation": "escalation_show",
    "acknowledge_escalation": "escalation_respond",
    "find_alerts": "alert_list",
}
ORGANISATION_RESOURCE = "config://organisation"
RESOLVED_STATUS_CATEGORY = "closed"


def accepts(schema: dict[str, Any], argument: str) -> bool:
    return argument in (schema.get("properties") or {})


def open_incident_arguments(action: OpenIncident, org: Organisation, schema: dict[str, Any]) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "name": action.name[:250],
        "summary": action.summary + f"\n\nalert-courier key: {action.idempotency_key}",
        "visibility": "public",
        "mode": "standard",
    }
    severity_id = org.severity_id(action.severity)
    if severity_id:
        arguments["severity_id"] = severity_id
    if accepts(schema, "idempotency_key"):
        arguments["idempotency_key"] = action.idempotency_key
    return {name: value for name, value in arguments.items() if accepts(schema, name) or name == "name"}


def resolve_incident_arguments(action: ResolveIncident, org: Organisation, schema: dict[str, Any]) -> dict[str, Any]:
    arguments: dict[str, Any] = {"incident_id": action.incident_id, "summary": action.summary}
    status_id = org.status_id(category=RESOLVED_STATUS_CATEGORY)
    if status_id:
        arguments["incident_status_id"] = status_id
    if accepts(schema, "notify_incident_channel"):
        arguments["notify_incident_channel"] = True
    return arguments


def incident_from_result(result: dict[str, Any]) -> dict[str, Any]:
    """Tools answer {"incident": {...}} like the REST API; accept a bare incident too."""
    incident = result.get("incident", result)
    return incident if isinstance(incident, dict) else {}
