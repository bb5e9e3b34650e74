"""Performs one action against incident.io: the tool calls, and the recovery that keeps a retried action single
(look before acting again after an ambiguous failure, draft → execute for pages, 409/422 → read back)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from alert_courier.domain.actions import (
    AcknowledgeEscalation,
    Action,
    Escalate,
    FlappingUpdate,
    OpenIncident,
    ReopenIncident,
    ResolveIncident,
    SendAlertEvent,
    StormUpdate,
    UpdateIncident,
    opened_in,
)
from alert_courier.domain.call_budget import calls_for, priority_of
from alert_courier.domain.group_state import GroupState
from alert_courier.incident_io import lookups
from alert_courier.incident_io.organisation import Organisation
from alert_courier.incident_io.tool_calls import ToolCalls
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError
from alert_courier.incident_io.tool_table import (
    GUARANTEES,
    TOOLS,
    acknowledge_arguments,
    alert_event_body,
    escalation_draft_arguments,
    escalation_execute_arguments,
    escalation_from_result,
    flapping_update_arguments,
    incident_from_result,
    open_incident_arguments,
    reopen_incident_arguments,
    resolve_incident_arguments,
    suggestion_from_result,
    update_incident_arguments,
)
from alert_courier.use_cases.ports import AlertEventSender, Claim, IncidentTools, Remaining, Telemetry
from alert_courier.use_cases.telemetry import NoTelemetry

logger = logging.getLogger("alert_courier")

CLOSED_CATEGORIES = ("closed", "learning", "declined", "canceled", "merged")
# What happens instead when a tool's schema has no idempotency_key (recorded with the result, in the history).
UNKEYED_FALLBACK = {
    "incident_create": "an ambiguous failure is re-checked with incident_list (the key is in the summary) before "
    "the incident is opened again",
    "escalation_create": "a page is not found again by key: an ambiguous failure of the execute step is left to "
    "the ledger (re-check) and may page twice",
}
NO_ESCALATION_TOOL = (
    "the server offers no escalation_create, so nobody can be paged through MCP: page through an alert source "
    "instead (an alert_event action in the rule, with an incident.io alert route that escalates), or ask an "
    "incident.io admin to make escalations available to this key"
)


class IncidentIoExecutor:
    def __init__(
        self, tools: IncidentTools, alert_events: AlertEventSender | None = None, telemetry: Telemetry | None = None
    ) -> None:
        self._calls = ToolCalls(tools, telemetry)
        self._alert_events = alert_events
        self._telemetry: Telemetry = telemetry or NoTelemetry()

    def execute(
        self, action: Action, claim: Claim, state: GroupState, earlier: Sequence[dict[str, Any]], remaining: Remaining
    ) -> dict[str, Any]:
        with calls_for(priority_of(action.kind)):  # its re-checks too: they decide whether it must act again
            return self._execute(action, claim, state, earlier, remaining)

    def _execute(
        self, action: Action, claim: Claim, state: GroupState, earlier: Sequence[dict[str, Any]], remaining: Remaining
    ) -> dict[str, Any]:
        if isinstance(action, OpenIncident):
            return self._open_incident(action, claim, remaining)
        if isinstance(action, ResolveIncident | UpdateIncident | StormUpdate) and not action.incident_id:
            action = action.model_copy(update={"incident_id": _just_opened(action, state, earlier)})
        if isinstance(action, ResolveIncident):
            return self._resolve_incident(action, remaining)
        if isinstance(action, UpdateIncident):
            return self._update_incident(action, remaining)
        if isinstance(action, ReopenIncident):
            return self._reopen_incident(action, claim, remaining)
        if isinstance(action, FlappingUpdate | StormUpdate):
            return self._flapping_update(action, remaining)
        if isinstance(action, SendAlertEvent):
            return self._send_alert_event(action)
        if isinstance(action, Escalate):
            incident_id = opened_in(earlier) or state.incident_id
            return self._escalate(action, claim, incident_id, remaining)
        return self._acknowledge(action, remaining)

    def page_statuses(self, state: GroupState, remaining: Remaining) -> dict[str, str]:
        return lookups.page_statuses(self._calls, state, remaining)

    def _open_incident(self, action: OpenIncident, claim: Claim, remaining: Remaining) -> dict[str, Any]:
        tool = TOOLS["open_incident"]
        dropped: list[str] = []
        schema = self._calls.schema(tool)
        arguments = open_incident_arguments(action, self._calls.organisation(remaining), schema, dropped)
        notes = self._record_dropped(tool, dropped)
        keyed = "idempotency_key" in arguments
        if claim.previously_ambiguous and not keyed:
            found = lookups.find_incident(self._calls, action, claim.first_attempt_at, remaining)
            if found:
                return {**found, **notes}
        try:
            answer = self._calls.call(tool, arguments, retry_ambiguous=keyed, remaining=remaining)
            incident = _opened_incident(tool, answer)
        except ToolCallError as error:
            if error.kind is not FailureKind.AMBIGUOUS:
                raise
            # The server may have opened it before the answer was lost: look before trying again.
            try:
                found = lookups.find_incident(self._calls, action, claim.first_attempt_at, remaining)
            except ToolCallError as recheck_failure:
                raise error from recheck_failure  # still unknown whether it landed: the ledger must remember
            if found:
                return {**found, **notes}
            answer = self._calls.call(tool, arguments, retry_ambiguous=False, remaining=remaining)
            incident = _opened_incident(tool, answer)
        return {"incident_id": incident.get("id"), "incident_reference": incident.get("reference"), **notes}

    def _resolve_incident(self, action: ResolveIncident, remaining: Remaining) -> dict[str, Any]:
        tool = TOOLS["resolve_incident"]
        dropped: list[str] = []
        schema = self._calls.schema(tool)
        arguments = resolve_incident_arguments(action, self._calls.organisation(remaining), schema, dropped)
        notes = self._record_dropped(tool, dropped)
        try:
            result = self._calls.call(tool, arguments, retry_ambiguous=True, remaining=remaining)
        except ToolCallError as error:
            if error.kind is not FailureKind.PERMANENT or error.status not in (409, 422):
                raise
            # Perhaps someone already resolved it by hand: that is the outcome we wanted.
            shown = self._calls.call(
                TOOLS["show_incident"], {"id": action.incident_id}, retry_ambiguous=True, remaining=remaining
            )
            status = incident_from_result(shown).get("incident_status") or {}
            if _category(status, self._calls.organisation(remaining)) not in CLOSED_CATEGORIES:
                raise
            return {"incident_id": action.incident_id, "status": status.get("name"), "already_resolved": True, **notes}
        status = incident_from_result(result).get("incident_status") or {}
        name = status.get("name") if isinstance(status, dict) else None
        return {"incident_id": action.incident_id, "status": name, **notes}

    def _update_incident(self, action: UpdateIncident, remaining: Remaining) -> dict[str, Any]:
        tool = TOOLS["update_incident"]
        dropped: list[str] = []
        schema = self._calls.schema(tool)
        arguments = update_incident_arguments(action, self._calls.organisation(remaining), schema, dropped)
        notes = self._record_dropped(tool, dropped)
        result = self._calls.call(tool, arguments, retry_ambiguous=True, remaining=remaining)
        severity = incident_from_result(result).get("severity") or {}
        return {
            "incident_id": action.incident_id,
            "severity": severity.get("name") if isinstance(severity, dict) else None,
            **notes,
        }

    def _reopen_incident(self, action: ReopenIncident, claim: Claim, remaining: Remaining) -> dict[str, Any]:
        """Sets the incident live again. incident.io documents no transition back from closed: if it refuses
        (409/422), the group's new episode opens a new incident instead (the action's fallback), said so."""
        tool = TOOLS["reopen_incident"]
        dropped: list[str] = []
        schema = self._calls.schema(tool)
        arguments = reopen_incident_arguments(action, self._calls.organisation(remaining), schema, dropped)
        notes = self._record_dropped(tool, dropped)
        try:
            self._calls.call(tool, arguments, retry_ambiguous=True, remaining=remaining)
        except ToolCallError as error:
            if error.kind is not FailureKind.PERMANENT or error.status not in (409, 422):
                raise
            opened = self._open_incident(action.fallback, claim, remaining)
            return {**opened, "reopen_refused": str(error), **notes}
        return {"incident_id": action.incident_id, "reopened": True, **notes}

    def _flapping_update(self, action: FlappingUpdate | StormUpdate, remaining: Remaining) -> dict[str, Any]:
        """A note posted on an open incident (a flapping spell's, or a storm's member list)."""
        tool = TOOLS[action.kind]
        dropped: list[str] = []
        arguments = flapping_update_arguments(action, self._calls.schema(tool), dropped)
        notes = self._record_dropped(tool, dropped)
        self._calls.call(tool, arguments, retry_ambiguous=True, remaining=remaining)
        if isinstance(action, StormUpdate):
            return {"incident_id": action.incident_id, "storm_firing": action.firing, **notes}
        return {"incident_id": action.incident_id, "flapping": True, **notes}

    def _send_alert_event(self, action: SendAlertEvent) -> dict[str, Any]:
        if self._alert_events is None:
            raise ToolCallError(FailureKind.PERMANENT, "alert events are not configured (no REST adapter)")
        answer = self._alert_events.send_alert_event(action.alert_source_config_id, alert_event_body(action))
        return {
            "alert_event": action.status,
            "deduplication_key": answer.get("deduplication_key", action.deduplication_key),
        }

    def _escalate(
        self, action: Escalate, claim: Claim, incident_id: str | None, remaining: Remaining
    ) -> dict[str, Any]:
        tool = TOOLS["escalate"]
        if not self._calls.offers(tool):
            if action.alert_source_config_id and self._alert_events is not None:
                # The rule's alert event went to this source; its incident.io alert route pages (and escalates).
                return {"escalation_id": None, "delegated_to_alert_source": action.alert_source_config_id}
            raise ToolCallError(FailureKind.PERMANENT, NO_ESCALATION_TOOL, tool=tool, code="no_escalation_tool")
        schema = self._calls.schema(tool)
        keyed = "idempotency_key" in (schema.get("properties") or {})
        dropped: list[str] = []
        arguments = escalation_draft_arguments(action, incident_id, schema, dropped)
        notes = self._record_dropped(tool, dropped)
        if claim.previously_ambiguous and keyed and (found := lookups.find_escalation(self._calls, action, remaining)):
            return {**found, **notes}
        draft = self._calls.call(tool, arguments, retry_ambiguous=keyed, remaining=remaining)
        suggestion_id = suggestion_from_result(draft)
        if not suggestion_id:  # the server paged straight away, or returned the page this key already made
            result = draft
        else:  # a draft pages nobody: execute it so the page really goes out
            try:
                result = self._calls.call(
                    tool, escalation_execute_arguments(str(suggestion_id)), retry_ambiguous=False, remaining=remaining
                )
            except ToolCallError as error:
                # The page may have gone out before the answer was lost: look before anyone tries again.
                if error.kind is not FailureKind.AMBIGUOUS or not keyed:
                    raise
                found = lookups.find_escalation(self._calls, action, remaining)
                if found is None:
                    raise
                return {**found, **notes}
        escalation = escalation_from_result(result)
        return {"escalation_id": escalation.get("id"), "escalation_status": escalation.get("status"), **notes}

    def _acknowledge(self, action: AcknowledgeEscalation, remaining: Remaining) -> dict[str, Any]:
        tool = TOOLS["acknowledge_escalation"]
        dropped: list[str] = []
        arguments = acknowledge_arguments(action.escalation_id, self._calls.schema(tool), dropped)
        notes = self._record_dropped(tool, dropped)
        try:
            result = self._calls.call(tool, arguments, retry_ambiguous=True, remaining=remaining)
        except ToolCallError as error:
            if error.kind is FailureKind.PERMANENT and error.status in (403, 404):
                # A service actor may not be allowed to respond: the acknowledgement is recorded anyway.
                refused = {"acknowledged": False, "refused": error.message}
                return {"escalation_id": action.escalation_id, **refused, **notes}
            raise
        escalation = escalation_from_result(result)
        status = escalation.get("status")
        return {"escalation_id": action.escalation_id, "acknowledged": True, "status": status, **notes}

    def _record_dropped(self, tool: str, dropped: list[str]) -> dict[str, Any]:
        """What the schema filter removed from a call: logged, counted, and returned for the decision's history."""
        if not dropped:
            return {}
        logger.warning("the server's schema drops arguments", extra={"tool": tool, "dropped_arguments": dropped})
        for name in dropped:
            self._telemetry.count("ArgumentsDropped", tool=tool, argument=name)
        notes = [f"{tool} takes no {name}: sent without it" for name in dropped if name not in GUARANTEES]
        notes += [
            f"{tool} takes no {name} ({GUARANTEES[name]}): sent without it" for name in dropped if name in GUARANTEES
        ]
        if "idempotency_key" in dropped and tool in UNKEYED_FALLBACK:
            notes.append(f"{tool} without an idempotency key: {UNKEYED_FALLBACK[tool]}")
        return {"dropped_arguments": {tool: list(dropped)}, "schema_notes": notes}


def _just_opened(action: Action, state: GroupState, earlier: Sequence[dict[str, Any]]) -> str:
    """The incident an action of "the incident this decision opens" means."""
    opened = opened_in(earlier) or state.incident_id
    if not opened:
        raise ToolCallError(FailureKind.PERMANENT, f"{action.kind}: no incident was opened to act on")
    return str(opened)


def _category(status: dict[str, Any], org: Organisation) -> str | None:
    """A status's category; an answer in prose may name only the status, whose category the organisation has."""
    return status.get("category") or org.status_category(org.status_id(name=status.get("name")))


def _opened_incident(tool: str, result: dict[str, Any]) -> dict[str, Any]:
    """The incident a create answered with; an answer naming none leaves it unknown whether one was opened."""
    incident = incident_from_result(result)
    if not incident.get("id"):
        raise ToolCallError(FailureKind.AMBIGUOUS, "the answer names no incident", tool=tool)
    return incident
