"""What each simulated incident.io tool does, with REST-faithful semantics (idempotency, transitions, paging).

Every tool takes the call's arguments (already checked against the contract's schemas) and returns the JSON
object incident.io's REST API would answer, or raises `IncidentIoError`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from .directory import Directory, iso
from .errors import IncidentIoError, conflict, forbidden, is_required, not_found, validation_error
from .ids import new_ulid
from .state import EscalationDraft, EscalationRecord, IncidentRecord, SimState

# Who the simulated API key is; the key itself is never echoed.
API_KEY_CREATOR = {"api_key": {"id": "01HR71HETEFZG0X454YG4GFDEX", "name": "alert-courier (local simulator key)"}}
DEFAULT_LIST_MODES = ("standard", "retrospective")
# Which status categories an incident may move to from each category (a same-status update is no move).
ALLOWED_STATUS_MOVES: dict[str, frozenset[str]] = {
    "triage": frozenset({"triage", "live", "learning", "closed", "declined"}),
    "live": frozenset({"live", "learning", "closed"}),
    "learning": frozenset({"learning", "closed"}),
    "paused": frozenset({"paused", "live", "learning", "closed"}),
}
RESPONDABLE_STATUSES = frozenset({"pending", "triggered", "acked"})


@dataclass
class ToolContext:
    state: SimState
    directory: Directory
    now: datetime
    require_severity: bool = False
    refuse_respond: bool = False
    allow_reopen: bool = False  # closed -> live (flap control's reopen), not in incident.io's documented moves


Tool = Callable[[ToolContext, dict[str, Any]], dict[str, Any]]


# ---- incidents ------------------------------------------------------------------------------------


def incident_create(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    key = args.get("idempotency_key")
    if key and key in ctx.state.incident_ids_by_idempotency_key:
        original = ctx.state.incidents[ctx.state.incident_ids_by_idempotency_key[key]]
        return {"incident": copy.deepcopy(original.incident)}

    severity = _severity(ctx, args["severity_id"]) if "severity_id" in args else None
    if severity is None and ctx.require_severity:
        raise is_required("severity_id", "A severity is required to open an incident")
    status = _status(ctx, args["incident_status_id"]) if "incident_status_id" in args else None
    status = status or ctx.directory.first_status_in("triage")
    incident_type = ctx.directory.default_incident_type()
    if "incident_type_id" in args:
        incident_type = ctx.directory.incident_type(args["incident_type_id"]) or _invalid_id(
            "incident type", args["incident_type_id"], "incident_type_id"
        )

    ctx.state.last_incident_number += 1
    number = ctx.state.last_incident_number
    incident: dict[str, Any] = {
        "id": new_ulid(),
        "reference": f"INC-{number}",
        "name": args["name"],
        "incident_status": _status_summary(status),
        "incident_type": {key: incident_type[key] for key in ("id", "name", "description")},
        "mode": args.get("mode", "standard"),
        "visibility": args.get("visibility", "public"),
        "creator": copy.deepcopy(API_KEY_CREATOR),
        "created_at": iso(ctx.now),
        "updated_at": iso(ctx.now),
        "incident_role_assignments": [],
        "custom_field_entries": [],
        "incident_timestamp_values": [],
        "duration_metrics": [],
        "slack_team_id": "T0LOCALSIM",
        "slack_channel_id": f"C0LOCAL{number:05d}",
        "slack_channel_name": args.get("slack_channel_name_override") or _channel_name(number, args["name"]),
        "permalink": f"https://app.incident.io/local-simulator/incidents/{number}",
    }
    if "summary" in args:
        incident["summary"] = args["summary"]
    if severity is not None:
        incident["severity"] = severity
    ctx.state.incidents[incident["id"]] = IncidentRecord(incident=incident, arguments=copy.deepcopy(args))
    if key:
        ctx.state.incident_ids_by_idempotency_key[key] = incident["id"]
    return {"incident": copy.deepcopy(incident)}


def incident_update(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    record = ctx.state.find_incident(args["incident_id"])
    if record is None:
        raise not_found("Incident", args["incident_id"])
    changes = {k: args[k] for k in ("name", "summary", "severity_id", "incident_status_id") if k in args}
    if not changes:
        raise validation_error(
            "Provide at least one of name, summary, severity_id or incident_status_id to change", field="incident"
        )
    incident = record.incident
    severity = _severity(ctx, changes["severity_id"]) if "severity_id" in changes else None
    status = _status(ctx, changes["incident_status_id"]) if "incident_status_id" in changes else None
    if status is not None:
        _check_status_move(incident, status, ctx.allow_reopen)

    if "name" in changes:
        incident["name"] = changes["name"]
    if "summary" in changes:
        incident["summary"] = changes["summary"]
    if severity is not None:
        incident["severity"] = severity
    if status is not None:
        incident["incident_status"] = _status_summary(status)
    incident["updated_at"] = iso(ctx.now)
    record.updates.append(copy.deepcopy(args))
    return {"incident": copy.deepcopy(incident)}


def incident_list(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    categories = {"live" if c == "active" else c for c in args.get("status_category", [])}
    modes = set(args.get("mode") or DEFAULT_LIST_MODES)
    created_after = _parse_time(args["created_after"], "created_after") if "created_after" in args else None
    newest_first = [r.incident for r in reversed(ctx.state.incidents.values())]
    chosen = [
        incident
        for incident in newest_first
        if incident["mode"] in modes
        and (not categories or incident["incident_status"]["category"] in categories)
        and (created_after is None or _parse_time(incident["created_at"], "created_at") > created_after)
    ]
    page, meta = _paginate(chosen, args)
    return {"incidents": copy.deepcopy(page), "pagination_meta": meta}


def incident_show(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    record = ctx.state.find_incident(args["id"])
    if record is None:
        raise not_found("Incident", args["id"])
    return {"incident": copy.deepcopy(record.incident)}


# ---- alerts ---------------------------------------------------------------------------------------


def alert_list(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    statuses = set(args.get("status", []))
    newest_first = [r.alert for r in reversed(ctx.state.alerts.values())]
    chosen = [
        alert
        for alert in newest_first
        if ("deduplication_key" not in args or alert["deduplication_key"] == args["deduplication_key"])
        and (not statuses or alert["status"] in statuses)
    ]
    page, meta = _paginate(chosen, args)
    return {"alerts": copy.deepcopy(page), "pagination_meta": meta}


def alert_show(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    record = ctx.state.alerts.get(args["id"])
    if record is None:
        raise not_found("Alert", args["id"])
    return {"alert": copy.deepcopy(record.alert)}


# ---- escalations ----------------------------------------------------------------------------------


def escalation_create(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    if args.get("action") == "execute":
        return _execute_escalation(ctx, args)
    return _draft_escalation(ctx, args)


def _draft_escalation(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Step one: check the request and describe who would be paged. Nobody is paged."""
    if not args.get("title"):
        raise is_required("title", "A title is required: it is shown in the page notification")
    path_id, user_ids = args.get("escalation_path_id"), args.get("user_ids")
    if bool(path_id) == bool(user_ids):
        raise validation_error(
            "You must provide either escalation_path_id or user_ids, but not both", field="escalation_path_id"
        )
    suggestion: dict[str, Any] = {"title": args["title"], "description": args.get("description", "")}
    if path_id:
        path = ctx.directory.escalation_path(path_id) or _invalid_id("escalation path", path_id, "escalation_path_id")
        suggestion |= {
            "escalation_path": {"id": path["id"], "name": path["name"]},
            "priority": {"name": "Default"},
            "would_page": [ctx.directory.user_summary(u) for u in ctx.directory.on_call_user_ids(path_id, ctx.now)],
        }
    else:
        suggestion |= {"priority": {"name": "High"}, "would_page": [_pageable_user(ctx, u) for u in user_ids or []]}
    if "incident_id" in args:
        incident = ctx.state.find_incident(args["incident_id"])
        if incident is None:
            raise validation_error(f"No incident {args['incident_id']!r} to link", field="incident_id")
        suggestion["incident"] = _incident_summary(incident)
    if "idempotency_key" in args:
        suggestion["idempotency_key"] = args["idempotency_key"]

    draft = EscalationDraft(suggestion_id=new_ulid(), arguments=copy.deepcopy(args), suggestion=suggestion)
    ctx.state.drafts[draft.suggestion_id] = draft
    return {
        "suggestion_id": draft.suggestion_id,
        "suggestion": copy.deepcopy(suggestion),
        "card_posted": False,
        "message": 'Draft only: nobody has been paged. Call escalation_create again with action "execute" '
        "and this suggestion_id to send the page.",
    }


def _execute_escalation(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Step two: page for a draft. An idempotency key already used returns that escalation."""
    suggestion_id = args.get("suggestion_id")
    if not suggestion_id:
        raise is_required("suggestion_id", 'suggestion_id is required with action "execute"')
    draft = ctx.state.drafts.get(suggestion_id)
    if draft is None:
        raise not_found("Escalation suggestion", suggestion_id)
    key = draft.arguments.get("idempotency_key") or args.get("idempotency_key")
    if key and key in ctx.state.escalation_ids_by_idempotency_key:
        existing = ctx.state.escalations[ctx.state.escalation_ids_by_idempotency_key[key]]
        return {"escalation": copy.deepcopy(existing.escalation)}
    if draft.escalation_id is not None:
        raise conflict(
            f"Suggestion {suggestion_id} was already sent as escalation {draft.escalation_id}; "
            "give the draft an idempotency_key to make retries safe"
        )

    suggestion = draft.suggestion
    escalation: dict[str, Any] = {
        "id": new_ulid(),
        "title": suggestion["title"],
        "description": suggestion["description"],
        "status": "triggered",
        "priority": suggestion["priority"],
        "creator": copy.deepcopy(API_KEY_CREATOR),
        "escalation_path_id": (suggestion.get("escalation_path") or {}).get("id"),
        "related_incidents": [suggestion["incident"]] if "incident" in suggestion else [],
        "related_alerts": [],
        "events": [{"event": "triggered", "occurred_at": iso(ctx.now), "users": suggestion["would_page"]}],
        "created_at": iso(ctx.now),
        "updated_at": iso(ctx.now),
    }
    if key:
        escalation["idempotency_key"] = key
        ctx.state.escalation_ids_by_idempotency_key[key] = escalation["id"]
    draft.escalation_id = escalation["id"]
    ctx.state.escalations[escalation["id"]] = EscalationRecord(
        escalation=escalation, arguments=copy.deepcopy(draft.arguments), suggestion_id=suggestion_id
    )
    return {"escalation": copy.deepcopy(escalation)}


def escalation_list(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    statuses = set(args.get("status", []))
    created_after = _parse_time(args["created_after"], "created_after") if "created_after" in args else None
    newest_first = [r.escalation for r in reversed(ctx.state.escalations.values())]
    chosen = [
        escalation
        for escalation in newest_first
        if (not statuses or escalation["status"] in statuses)
        and ("idempotency_key" not in args or escalation.get("idempotency_key") == args["idempotency_key"])
        and ("escalation_path" not in args or escalation["escalation_path_id"] == args["escalation_path"])
        and (created_after is None or _parse_time(escalation["created_at"], "created_at") > created_after)
    ]
    page, meta = _paginate(chosen, args)
    return {"escalations": copy.deepcopy(page), "pagination_meta": meta}


def escalation_show(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    record = ctx.state.escalations.get(args["id"])
    if record is None:
        raise not_found("Escalation", args["id"])
    return {"escalation": copy.deepcopy(record.escalation)}


def escalation_respond(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    if ctx.refuse_respond:
        raise forbidden(
            "API keys act as a service actor, which cannot respond to escalations; a user must acknowledge the page",
            code="service_actor_not_allowed",
        )
    record = ctx.state.escalations.get(args["id"])
    if record is None:
        raise not_found("Escalation", args["id"])
    escalation = record.escalation
    response = args.get("response", "acknowledge")
    if escalation["status"] not in RESPONDABLE_STATUSES:
        raise validation_error(
            f"The escalation is {escalation['status']} and can no longer be responded to", field="id"
        )
    if response == "acknowledge" and escalation["status"] != "acked":
        escalation["status"] = "acked"
        escalation["events"].append({"event": "acked", "occurred_at": iso(ctx.now), "by": API_KEY_CREATOR})
    elif response == "decline":
        if escalation["status"] == "acked":
            raise validation_error("The escalation is already acknowledged", field="response")
        escalation["events"].append({"event": "declined", "occurred_at": iso(ctx.now), "by": API_KEY_CREATOR})
    escalation["updated_at"] = iso(ctx.now)
    return {"escalation": copy.deepcopy(escalation)}


# ---- on-call directory ----------------------------------------------------------------------------


def escalation_path_list(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    paths = [
        ctx.directory.render_escalation_path(path_id, ctx.now, with_on_call=False)
        for path_id in ctx.directory.escalation_path_ids()
    ]
    page, meta = _paginate(paths, args)
    return {"escalation_paths": page, "pagination_meta": meta}


def escalation_path_show(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    return {"escalation_path": ctx.directory.render_escalation_path(args["id"], ctx.now, with_on_call=True)}


def schedule_list(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    schedules = [ctx.directory.render_schedule(s, ctx.now) for s in ctx.directory.schedule_ids(user=args.get("user"))]
    page, meta = _paginate(schedules, args)
    return {"schedules": page, "pagination_meta": meta}


def schedule_show(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    start = _parse_time(args["entry_window_start"], "entry_window_start") if "entry_window_start" in args else ctx.now
    end = _parse_time(args["entry_window_end"], "entry_window_end") if "entry_window_end" in args else None
    end = end or start + timedelta(days=7)
    if end <= start:
        raise validation_error("entry_window_end must be after entry_window_start", field="entry_window_end")
    return {"schedule": ctx.directory.render_schedule(args["id"], ctx.now, (start, end))}


def team_list(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    page, meta = _paginate(ctx.directory.teams(), args)
    return {"teams": page, "pagination_meta": meta}


def user_list(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    users = ctx.directory.users(include_inactive=args.get("include_inactive", False), email=args.get("email"))
    page, meta = _paginate(users, args)
    return {"users": page, "pagination_meta": meta}


TOOLS: dict[str, Tool] = {
    "incident_create": incident_create,
    "incident_update": incident_update,
    "incident_list": incident_list,
    "incident_show": incident_show,
    "alert_list": alert_list,
    "alert_show": alert_show,
    "escalation_create": escalation_create,
    "escalation_list": escalation_list,
    "escalation_show": escalation_show,
    "escalation_respond": escalation_respond,
    "escalation_path_list": escalation_path_list,
    "escalation_path_show": escalation_path_show,
    "schedule_list": schedule_list,
    "schedule_show": schedule_show,
    "team_list": team_list,
    "user_list": user_list,
}


# ---- helpers ----------------------------------------------------------------------------------


def _invalid_id(what: str, given: str, field: str) -> NoReturn:
    raise validation_error(f"There is no {what} with ID {given!r}", field=field)


def _severity(ctx: ToolContext, severity_id: str) -> dict[str, Any]:
    return ctx.directory.severity(severity_id) or _invalid_id("severity", severity_id, "severity_id")


def _status(ctx: ToolContext, status_id: str) -> dict[str, Any]:
    return ctx.directory.status(status_id) or _invalid_id("incident status", status_id, "incident_status_id")


def _status_summary(status: dict[str, Any]) -> dict[str, Any]:
    return {key: status[key] for key in ("id", "name", "description", "category", "rank")}


def _check_status_move(incident: dict[str, Any], target: dict[str, Any], allow_reopen: bool = False) -> None:
    current = incident["incident_status"]
    if target["id"] == current["id"]:
        return
    if allow_reopen and current["category"] == "closed" and target["category"] == "live":
        return
    if target["category"] not in ALLOWED_STATUS_MOVES.get(current["category"], frozenset()):
        raise validation_error(
            f"{incident['reference']} cannot move from {current['name']} ({current['category']}) "
            f"to {target['name']} ({target['category']})",
            field="incident_status_id",
        )


def _incident_summary(record: IncidentRecord) -> dict[str, Any]:
    return {key: record.incident[key] for key in ("id", "reference", "name")}


def _pageable_user(ctx: ToolContext, user_id: str) -> dict[str, Any]:
    user = ctx.directory.user(user_id)
    if user is None:
        raise validation_error(f"There is no user with ID {user_id!r}", field="user_ids")
    if user["state"] != "active" or user["seat_type"] not in ("on_call", "on_call_responder"):
        raise validation_error(f"{user['name']} has no on-call seat and cannot be paged", field="user_ids")
    return ctx.directory.user_summary(user_id)


def _channel_name(number: int, name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    return f"inc-{number}-{slug}" if slug else f"inc-{number}"


def _parse_time(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise validation_error(f"{field} must be an ISO 8601 date or date-time, got {value!r}", field=field) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _paginate(items: list[dict[str, Any]], args: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Cursor paging like the REST API: `after` is the ID of the previous page's last item."""
    page_size: int = args.get("page_size", 25)
    start = 0
    if args.get("after"):
        position = next((i for i, item in enumerate(items) if item["id"] == args["after"]), None)
        if position is None:
            raise validation_error(f"Unknown cursor {args['after']!r}", field="after")
        start = position + 1
    page = items[start : start + page_size]
    meta: dict[str, Any] = {"page_size": page_size, "total_record_count": len(items)}
    if start + page_size < len(items):
        meta["after"] = page[-1]["id"]
    return page, meta


__all__ = ["TOOLS", "IncidentIoError", "Tool", "ToolContext"]
