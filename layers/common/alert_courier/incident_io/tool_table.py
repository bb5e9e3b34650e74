"""The one table of incident.io MCP tool names and how each action's arguments are built for them.

The official schemas are not published; these mappings follow ../shared/reference/incidentio-mcp.md and
every call is checked against the server's advertised input schema before it is sent (fail closed).
Optional arguments are only sent when the advertised schema has them (e.g. `idempotency_key`); every builder
can hand back what the filter removed (`dropped`), so that nothing is dropped without a record.
"""

from __future__ import annotations

from typing import Any

from alert_courier.domain.actions import (
    Action,
    Escalate,
    FlappingUpdate,
    OpenIncident,
    ReopenIncident,
    ResolveIncident,
    SendAlertEvent,
    StormUpdate,
    UpdateIncident,
)
from alert_courier.domain.errors import ActionFailed
from alert_courier.incident_io import tool_results
from alert_courier.incident_io.organisation import Organisation

TOOLS: dict[str, str] = {
    "open_incident": "incident_create",
    "resolve_incident": "incident_update",
    "update_incident": "incident_update",
    "reopen_incident": "incident_update",
    "flapping_update": "incident_update",
    "storm_update": "incident_update",
    "find_incidents": "incident_list",
    "show_incident": "incident_show",
    "escalate": "escalation_create",
    "find_escalations": "escalation_list",
    "show_escalation": "escalation_show",
    "acknowledge_escalation": "escalation_respond",
    "find_alerts": "alert_list",
}
ORGANISATION_RESOURCE = "config://organisation"
RESOLVED_STATUS_CATEGORY = "closed"
LIVE_STATUS_CATEGORY = "live"  # a reopened incident's (incident.io's API name of the app's "Active")
# Not MCP tools (REST, with each alert source's own token): the alert-event and heartbeat endpoints.
ALERT_EVENT_PATH = "/v2/alert_events/http/{alert_source_config_id}"
HEARTBEAT_PATH = "/v2/heartbeat/{alert_source_config_id}/ping"


# The arguments whose loss changes what a call guarantees, and what is lost with each (doctor and dispatch).
GUARANTEES: dict[str, str] = {
    "idempotency_key": "a repeated call returns the first result instead of acting twice",
    "summary": "carries the idempotency key the re-check (incident_list) looks for",
    "incident_id": "names the incident to change",
    "id": "names the object to read or answer",
    "incident_status_id": "the status that closes the incident",
    "severity_id": "the severity the rules chose",
    "escalation_path_id": "who is paged",
    "user_ids": "who is paged",
    "action": "the second step that sends a drafted page",
    "suggestion_id": "the draft the second step sends",
    "response": "that the page is acknowledged",
}


class UnknownName(ActionFailed):
    """A rules name (severity, status, incident type) the organisation does not have."""

    @property
    def permanent(self) -> bool:
        return True


def accepts(schema: dict[str, Any], argument: str) -> bool:
    return argument in (schema.get("properties") or {})


def _only_accepted(
    arguments: dict[str, Any], schema: dict[str, Any], required: tuple[str, ...], dropped: list[str] | None
) -> dict[str, Any]:
    """Drops what the advertised schema does not take, naming each dropped argument in `dropped`; with no schema
    at hand (explain offline) keeps all."""
    if not schema:
        return arguments
    kept = {name: value for name, value in arguments.items() if name in required or accepts(schema, name)}
    if dropped is not None:
        dropped += [name for name in arguments if name not in kept]
    return kept


def open_incident_arguments(
    action: OpenIncident, org: Organisation | None, schema: dict[str, Any], dropped: list[str] | None = None
) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "name": action.name,
        "summary": action.summary + f"\n\nalert-courier key: {action.idempotency_key}",
        "visibility": action.visibility,
        "mode": action.mode,
        "idempotency_key": action.idempotency_key,
    }
    if action.severity_name:
        arguments["severity_id"] = _resolve(org, "severity", action.severity_name)
    if action.incident_type:
        arguments["incident_type_id"] = _resolve(org, "incident type", action.incident_type)
    return _only_accepted(arguments, schema, ("name",), dropped)


def resolve_incident_arguments(
    action: ResolveIncident, org: Organisation | None, schema: dict[str, Any], dropped: list[str] | None = None
) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "incident_id": action.incident_id,
        "summary": action.summary,
        "notify_incident_channel": True,
    }
    if action.close:
        if action.status_name:
            arguments["incident_status_id"] = _resolve(org, "status", action.status_name)
        elif org is None:
            arguments["incident_status_id"] = f"<first status of category {RESOLVED_STATUS_CATEGORY!r}>"
        else:
            status_id = org.status_id(category=RESOLVED_STATUS_CATEGORY)
            if status_id is None:
                raise UnknownName(f"the organisation has no status of category {RESOLVED_STATUS_CATEGORY!r}")
            arguments["incident_status_id"] = status_id
    return _only_accepted(arguments, schema, ("incident_id",), dropped)


def update_incident_arguments(
    action: UpdateIncident, org: Organisation | None, schema: dict[str, Any], dropped: list[str] | None = None
) -> dict[str, Any]:
    arguments: dict[str, Any] = {"incident_id": action.incident_id, "notify_incident_channel": True}
    if action.severity_name:
        arguments["severity_id"] = _resolve(org, "severity", action.severity_name)
    return _only_accepted(arguments, schema, ("incident_id",), dropped)


def reopen_incident_arguments(
    action: ReopenIncident, org: Organisation | None, schema: dict[str, Any], dropped: list[str] | None = None
) -> dict[str, Any]:
    """The first status of category live, and the summary saying why. incident.io documents transitions from
    triage/live to learning or closed, not back from closed: a refusal is handled by the executor."""
    arguments: dict[str, Any] = {
        "incident_id": action.incident_id,
        "summary": action.summary,
        "notify_incident_channel": True,
    }
    if org is None:
        arguments["incident_status_id"] = f"<first status of category {LIVE_STATUS_CATEGORY!r}>"
    else:
        status_id = org.status_id(category=LIVE_STATUS_CATEGORY)
        if status_id is None:
            raise UnknownName(f"the organisation has no status of category {LIVE_STATUS_CATEGORY!r}")
        arguments["incident_status_id"] = status_id
    if action.fallback.severity_name:  # the new episode's severity, as an opening would set it
        arguments["severity_id"] = _resolve(org, "severity", action.fallback.severity_name)
    return _only_accepted(arguments, schema, ("incident_id",), dropped)


def flapping_update_arguments(
    action: FlappingUpdate | StormUpdate, schema: dict[str, Any], dropped: list[str] | None = None
) -> dict[str, Any]:
    arguments = {"incident_id": action.incident_id, "summary": action.summary, "notify_incident_channel": True}
    return _only_accepted(arguments, schema, ("incident_id",), dropped)


def escalation_draft_arguments(
    action: Escalate, incident_id: str | None, schema: dict[str, Any], dropped: list[str] | None = None
) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "title": action.title,
        "description": action.description,
        "idempotency_key": action.idempotency_key,
    }
    if action.escalation_path_id:
        arguments["escalation_path_id"] = action.escalation_path_id
    else:
        arguments["user_ids"] = list(action.user_ids or [])
    if incident_id and action.link_incident:
        arguments["incident_id"] = incident_id
    return _only_accepted(arguments, schema, ("title",), dropped)


def escalation_execute_arguments(suggestion_id: str) -> dict[str, Any]:
    return {"action": "execute", "suggestion_id": suggestion_id}


def acknowledge_arguments(
    escalation_id: str, schema: dict[str, Any], dropped: list[str] | None = None
) -> dict[str, Any]:
    return _only_accepted({"id": escalation_id, "response": "acknowledge"}, schema, ("id",), dropped)


def alert_event_body(action: SendAlertEvent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": action.title,
        "status": action.status,
        "deduplication_key": action.deduplication_key,
        "description": action.description,
        "metadata": action.metadata,
    }
    if action.source_url:
        body["source_url"] = action.source_url
    return body


def planned_calls(
    action: Action, org: Organisation | None, schemas: dict[str, dict[str, Any]], incident_id: str | None
) -> list[dict[str, Any]]:
    """The exact calls an action makes, for `explain` and `check-config` (dispatch builds them the same way)."""
    if isinstance(action, OpenIncident):
        tool = TOOLS["open_incident"]
        return [{"tool": tool, "arguments": open_incident_arguments(action, org, schemas.get(tool, {}))}]
    if isinstance(action, ResolveIncident):
        tool = TOOLS["resolve_incident"]
        return [{"tool": tool, "arguments": resolve_incident_arguments(action, org, schemas.get(tool, {}))}]
    if isinstance(action, UpdateIncident):
        tool = TOOLS["update_incident"]
        return [{"tool": tool, "arguments": update_incident_arguments(action, org, schemas.get(tool, {}))}]
    if isinstance(action, ReopenIncident):
        tool = TOOLS["reopen_incident"]
        return [{"tool": tool, "arguments": reopen_incident_arguments(action, org, schemas.get(tool, {}))}]
    if isinstance(action, FlappingUpdate | StormUpdate):
        tool = TOOLS[action.kind]
        return [{"tool": tool, "arguments": flapping_update_arguments(action, schemas.get(tool, {}))}]
    if isinstance(action, SendAlertEvent):
        path = ALERT_EVENT_PATH.format(alert_source_config_id=action.alert_source_config_id)
        return [{"rest": f"POST {path}", "body": alert_event_body(action)}]
    if isinstance(action, Escalate):
        tool = TOOLS["escalate"]
        draft = escalation_draft_arguments(action, incident_id, schemas.get(tool, {}))
        execute = escalation_execute_arguments("<suggestion_id from the draft>")
        return [{"tool": tool, "arguments": draft}, {"tool": tool, "arguments": execute}]
    tool = TOOLS["acknowledge_escalation"]
    return [{"tool": tool, "arguments": acknowledge_arguments(action.escalation_id, schemas.get(tool, {}))}]


def incident_from_result(result: dict[str, Any]) -> dict[str, Any]:
    """{"incident": {...}} like the REST API, a bare incident, or prose with its id, reference and status."""
    return tool_results.entity(result, "incident")


def escalation_from_result(result: dict[str, Any]) -> dict[str, Any]:
    return tool_results.entity(result, "escalation")


def suggestion_from_result(result: dict[str, Any]) -> str | None:
    """A draft page's suggestion id (None: the server paged straight away, or returned a page already made)."""
    return tool_results.suggestion_id(result)


def _resolve(org: Organisation | None, what: str, name: str) -> str:
    """With no organisation at hand (explain without a server) the name is shown as a placeholder."""
    if org is None:
        return f"<id of {what} {name!r}>"
    lookup = {
        "severity": org.severity_id,
        "incident type": org.incident_type_id,
        "status": lambda n: org.status_id(name=n),
    }[what]
    found = lookup(name)
    if found is None:
        raise UnknownName(f"the organisation has no {what} named {name!r} (check the rules file)")
    return found
