"""Reading back what incident.io already has, so a retried action is found instead of done twice, and the
scheduler knows whether a page was acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.domain.actions import Escalate, OpenIncident
from alert_courier.domain.group_state import GroupState
from alert_courier.incident_io.tool_calls import ToolCalls
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError
from alert_courier.incident_io.tool_table import TOOLS, escalation_from_result
from alert_courier.use_cases.ports import Remaining

RECHECK_PAGES = 5
LIST_PAGES = 5


def find_incident(calls: ToolCalls, action: OpenIncident, since: float, remaining: Remaining) -> dict[str, Any] | None:
    """The incident an earlier attempt opened: its summary carries the action's idempotency key."""
    tool = TOOLS["find_incidents"]
    arguments: dict[str, Any] = {
        "created_after": datetime.fromtimestamp(since - 120, UTC).isoformat(),
        "page_size": 50,
    }
    include = calls.accepted(tool).get("include")
    if isinstance(include, dict) and "summary" in (include.get("items") or {}).get("enum", ["summary"]):
        arguments["include"] = ["summary"]  # the match is on the summary, which a list may leave out
    for page in calls.pages(tool, arguments, limit=RECHECK_PAGES, remaining=remaining):
        for incident in page.get("incidents", []):
            if action.idempotency_key in str(incident.get("summary", "")):
                return {
                    "incident_id": incident.get("id"),
                    "incident_reference": incident.get("reference"),
                    "found_by_recheck": True,
                }
    return None


def find_escalation(calls: ToolCalls, action: Escalate, remaining: Remaining) -> dict[str, Any] | None:
    """The page an earlier attempt sent (found by its idempotency key); None if none, or if the list fails."""
    try:
        page = calls.call(
            TOOLS["find_escalations"],
            {"idempotency_key": action.idempotency_key},
            retry_ambiguous=True,
            remaining=remaining,
        )
    except ToolCallError:
        return None
    for escalation in page.get("escalations", []):
        if escalation.get("status") not in (None, "draft"):
            return {
                "escalation_id": escalation.get("id"),
                "escalation_status": escalation.get("status"),
                "found_by_recheck": True,
            }
    return None


def page_statuses(calls: ToolCalls, state: GroupState, remaining: Remaining) -> dict[str, str]:
    """What incident.io says about each page this episode sent (escalation_show, else escalation_list)."""
    if not state.escalation_ids:
        return {}
    statuses: dict[str, str] = {}
    show = TOOLS["show_escalation"]
    if calls.offers(show):
        for page_id in state.escalation_ids:
            try:
                result = calls.call(show, {"id": page_id}, retry_ambiguous=True, remaining=remaining)
            except ToolCallError as error:
                if error.kind is FailureKind.PERMANENT and error.status == 404:
                    continue  # gone (or not visible to this key): it acknowledges nothing
                raise
            statuses[page_id] = str(escalation_from_result(result).get("status") or "")
        return statuses
    listing = TOOLS["find_escalations"]
    accepted = calls.accepted(listing)
    arguments: dict[str, Any] = {"page_size": 50} if "page_size" in accepted else {}
    if "created_after" in accepted and state.opened_at is not None:
        arguments["created_after"] = (state.opened_at - timedelta(minutes=5)).isoformat()
    wanted = set(state.escalation_ids)
    for page in calls.pages(listing, arguments, limit=LIST_PAGES, remaining=remaining):
        for escalation in page.get("escalations", []):
            if escalation.get("id") in wanted:
                statuses[str(escalation["id"])] = str(escalation.get("status") or "")
        if wanted <= set(statuses):
            break
    return statuses
