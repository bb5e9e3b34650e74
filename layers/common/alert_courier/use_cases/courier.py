"""Handles one queued alert: plan with the rules, read state, decide, perform each action once, save, record."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from alert_courier.aws.dynamodb_stores import (
    ActionLedger,
    Claim,
    DecisionHistory,
    GroupStateStore,
    GroupTooLarge,
    StaleState,
)
from alert_courier.domain.actions import (
    AcknowledgeEscalation,
    Action,
    Escalate,
    OpenIncident,
    ResolveIncident,
    SendAlertEvent,
    opened_incident_fields,
)
from alert_courier.domain.alert import AlertEnvelope, AlertStatus
from alert_courier.domain.decisions import decide
from alert_courier.domain.group_state import GroupState, state_id_for
from alert_courier.domain.rules import Plan, RuleSet, plan_for, plan_with_rules
from alert_courier.incident_io.organisation import Organisation
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError
from alert_courier.incident_io.tool_table import (
    ORGANISATION_RESOURCE,
    TOOLS,
    UnknownName,
    acknowledge_arguments,
    alert_event_body,
    escalation_draft_arguments,
    escalation_execute_arguments,
    escalation_from_result,
    incident_from_result,
    open_incident_arguments,
    resolve_incident_arguments,
)
from alert_courier.use_cases.telemetry import NoTelemetry, Telemetry

logger = logging.getLogger("alert_courier")
SAVE_ATTEMPTS = 5
ACTION_METRICS = {
    "open_incident": "IncidentsOpened",
    "resolve_incident": "IncidentsResolved",
    "alert_event": "AlertEventsSent",
    "escalate": "Escalations",
    "acknowledge_escalation": "Acknowledgements",
}
RECHECK_PAGES = 5
Remaining = Callable[[], float] | None


class IncidentTools(Protocol):
    """The port to incident.io's MCP tools (the real one is `mcp_client.IncidentIoMcp`)."""

    def input_schemas(self) -> dict[str, dict[str, Any]]: ...

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        retry_ambiguous: bool = False,
        remaining_seconds: Remaining = None,
    ) -> dict[str, Any]: ...

    def read_resource(self, uri: str, *, remaining_seconds: Remaining = None) -> dict[str, Any]: ...


class AlertEventSender(Protocol):
    """The port to incident.io's REST alert-event endpoint (the real one is `alert_events.IncidentIoRest`)."""

    def send_alert_event(self, config_id: str, event: dict[str, Any]) -> dict[str, Any]: ...


class PermanentFailure(Exception):
    """This message can never succeed as it is (e.g. arguments rejected): dead-letter it with the reason."""


class Courier:
    def __init__(
        self,
        states: GroupStateStore,
        ledger: ActionLedger,
        history: DecisionHistory,
        tools: IncidentTools,
        rules: Callable[[], RuleSet],
        *,
        alert_events: AlertEventSender | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        telemetry: Telemetry | None = None,
    ) -> None:
        self._states = states
        self._ledger = ledger
        self._history = history
        self._tools = tools
        self._rules = rules
        self._alert_events = alert_events
        self._clock = clock
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        self._organisation: Organisation | None = None

    def handle(self, envelope: AlertEnvelope, remaining_seconds: Remaining = None) -> dict[str, Any]:
        rules = self._rules()
        plan = plan_for(envelope.alert, rules)
        state_id = state_id_for(plan.alert.source, plan.state_key)
        for _ in range(SAVE_ATTEMPTS):
            state = self._states.load(state_id)
            plan = follow_up_plan(plan, state, rules)
            decision = decide(plan, state, rules, self._clock())
            results: list[dict[str, Any]] = []
            try:
                for action in decision.actions:
                    results.append(self.perform(action, state, results, remaining_seconds))
            except (ToolCallError, UnknownName) as error:
                described = error.describe() if isinstance(error, ToolCallError) else str(error)
                self._record(envelope, plan.explanation, decision.reasons, decision.actions, results, described)
                if isinstance(error, UnknownName) or error.kind is FailureKind.PERMANENT:
                    raise PermanentFailure(described) from error
                raise
            self.count_outcome(decision.actions, results)
            next_state = apply_results(decision.next_state, decision.actions, results)
            if next_state != state:
                try:
                    self._states.save(next_state)
                except StaleState:
                    continue  # another worker changed the group: decide again; done actions are remembered
                except GroupTooLarge as too_large:
                    self._record(
                        envelope, plan.explanation, decision.reasons, decision.actions, results, str(too_large)
                    )
                    raise PermanentFailure(str(too_large)) from too_large
            self._record(envelope, plan.explanation, decision.reasons, decision.actions, results, None)
            return {"reasons": decision.reasons, "actions": [a.kind for a in decision.actions], "results": results}
        raise StaleState(state_id)

    # ---- performing one action exactly once ----------------------------------------------------

    def perform(
        self, action: Action, state: GroupState, earlier: list[dict[str, Any]], remaining: Remaining
    ) -> dict[str, Any]:
        claim = self._ledger.claim(action.action_key)
        if claim.done:
            return {**(claim.result or {}), "remembered": True}
        try:
            result = self._execute(action, claim, state, earlier, remaining)
        except ToolCallError as error:
            self._ledger.release(action.action_key, ambiguous=error.kind is FailureKind.AMBIGUOUS)
            raise
        except Exception:
            self._ledger.release(action.action_key, ambiguous=True)
            raise
        self._ledger.complete(action.action_key, result)
        return result

    def _execute(
        self, action: Action, claim: Claim, state: GroupState, earlier: list[dict[str, Any]], remaining: Remaining
    ) -> dict[str, Any]:
        if isinstance(action, OpenIncident):
            return self._open_incident(action, claim, remaining)
        if isinstance(action, ResolveIncident):
            return self._resolve_incident(action, remaining)
        if isinstance(action, SendAlertEvent):
            return self._send_alert_event(action)
        if isinstance(action, Escalate):
            incident_id = next((r["incident_id"] for r in earlier if r.get("incident_id")), state.incident_id)
            return self._escalate(action, claim, incident_id, remaining)
        return self._acknowledge(action, remaining)

    def _open_incident(self, action: OpenIncident, claim: Claim, remaining: Remaining) -> dict[str, Any]:
        tool = TOOLS["open_incident"]
        arguments = open_incident_arguments(action, self._org(remaining), self._schema(tool))
        keyed = "idempotency_key" in arguments
        if claim.previously_ambiguous and not keyed:
            found = self._find_incident(action, claim.first_attempt_at, remaining)
            if found:
                return found
        try:
            incident = _opened_incident(tool, self._call(tool, arguments, retry_ambiguous=keyed, remaining=remaining))
        except ToolCallError as error:
            if error.kind is not FailureKind.AMBIGUOUS:
                raise
            # The server may have opened it before the answer was lost: look before trying again.
            try:
                found = self._find_incident(action, claim.first_attempt_at, remaining)
            except ToolCallError as recheck_failure:
                raise error from recheck_failure  # still unknown whether it landed: the ledger must remember
            if found:
                return found
            incident = _opened_incident(tool, self._call(tool, arguments, retry_ambiguous=False, remaining=remaining))
        return {"incident_id": incident.get("id"), "incident_reference": incident.get("reference")}

    def _find_incident(self, action: OpenIncident, since: float, remaining: Remaining) -> dict[str, Any] | None:
        after: str | None = None
        created_after = datetime.fromtimestamp(since - 120, UTC).isoformat()
        include = (self._schema(TOOLS["find_incidents"]).get("properties") or {}).get("include")
        for _ in range(RECHECK_PAGES):
            arguments: dict[str, Any] = {"created_after": created_after, "page_size": 50}
            if isinstance(include, dict) and "summary" in (include.get("items") or {}).get("enum", ["summary"]):
                arguments["include"] = ["summary"]  # the match is on the summary, which a list may leave out
            if after:
                arguments["after"] = after
            page = self._call(TOOLS["find_incidents"], arguments, retry_ambiguous=True, remaining=remaining)
            for incident in page.get("incidents", []):
                if action.idempotency_key in str(incident.get("summary", "")):
                    return {
                        "incident_id": incident.get("id"),
                        "incident_reference": incident.get("reference"),
                        "found_by_recheck": True,
                    }
            after = (page.get("pagination_meta") or {}).get("after")
            if not after:
                return None
        return None

    def _resolve_incident(self, action: ResolveIncident, remaining: Remaining) -> dict[str, Any]:
        tool = TOOLS["resolve_incident"]
        org = self._org(remaining)
        arguments = resolve_incident_arguments(action, org, self._schema(tool))
        try:
            result = self._call(tool, arguments, retry_ambiguous=True, remaining=remaining)
        except ToolCallError as error:
            if error.kind is not FailureKind.PERMANENT or error.status not in (409, 422):
                raise
            # Perhaps someone already resolved it by hand: that is the outcome we wanted.
            shown = self._call(
                TOOLS["show_incident"], {"id": action.incident_id}, retry_ambiguous=True, remaining=remaining
            )
            status = incident_from_result(shown).get("incident_status") or {}
            if status.get("category") not in ("closed", "learning", "declined", "canceled", "merged"):
                raise
            return {"incident_id": action.incident_id, "status": status.get("name"), "already_resolved": True}
        status = incident_from_result(result).get("incident_status") or {}
        return {"incident_id": action.incident_id, "status": status.get("name") if isinstance(status, dict) else None}

    def _send_alert_event(self, action: SendAlertEvent) -> dict[str, Any]:
        if self._alert_events is None:
            raise ToolCallError(FailureKind.PERMANENT, "alert events are not configured (no REST adapter)")
        event = alert_event_body(action)
        answer = self._alert_events.send_alert_event(action.alert_source_config_id, event)
        return {
            "alert_event": action.status,
            "deduplication_key": answer.get("deduplication_key", action.deduplication_key),
        }

    def _escalate(
        self, action: Escalate, claim: Claim, incident_id: str | None, remaining: Remaining
    ) -> dict[str, Any]:
        tool = TOOLS["escalate"]
        schema = self._schema(tool)
        keyed = "idempotency_key" in (schema.get("properties") or {})
        if claim.previously_ambiguous and keyed and (found := self._find_escalation(action, remaining)):
            return found
        draft = self._call(
            tool, escalation_draft_arguments(action, incident_id, schema), retry_ambiguous=keyed, remaining=remaining
        )
        suggestion_id = draft.get("suggestion_id")
        if not suggestion_id:  # the server paged straight away, or returned the page this key already made
            result = draft
        else:  # a draft pages nobody: execute it so the page really goes out
            try:
                result = self._call(
                    tool, escalation_execute_arguments(str(suggestion_id)), retry_ambiguous=False, remaining=remaining
                )
            except ToolCallError as error:
                # The page may have gone out before the answer was lost: look before anyone tries again.
                if error.kind is not FailureKind.AMBIGUOUS or not keyed:
                    raise
                found = self._find_escalation(action, remaining)
                if found is None:
                    raise
                return found
        escalation = escalation_from_result(result)
        return {"escalation_id": escalation.get("id"), "escalation_status": escalation.get("status")}

    def _find_escalation(self, action: Escalate, remaining: Remaining) -> dict[str, Any] | None:
        try:
            page = self._call(
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

    def _acknowledge(self, action: AcknowledgeEscalation, remaining: Remaining) -> dict[str, Any]:
        tool = TOOLS["acknowledge_escalation"]
        try:
            result = self._call(
                tool,
                acknowledge_arguments(action.escalation_id, self._schema(tool)),
                retry_ambiguous=True,
                remaining=remaining,
            )
        except ToolCallError as error:
            if error.kind is FailureKind.PERMANENT and error.status in (403, 404):
                # A service actor may not be allowed to respond: the acknowledgement is recorded anyway.
                return {"escalation_id": action.escalation_id, "acknowledged": False, "refused": error.message}
            raise
        escalation = escalation_from_result(result)
        return {"escalation_id": action.escalation_id, "acknowledged": True, "status": escalation.get("status")}

    # ---- helpers ----------------------------------------------------------------------------

    def _call(
        self, tool: str, arguments: dict[str, Any], *, retry_ambiguous: bool, remaining: Remaining
    ) -> dict[str, Any]:
        started = time.monotonic()
        try:
            result = self._tools.call_tool(
                tool, arguments, retry_ambiguous=retry_ambiguous, remaining_seconds=remaining
            )
        except ToolCallError as error:
            self._telemetry.count("ToolCallErrors", tool=tool, kind=error.kind.value)
            logger.warning("tool call failed", extra={"tool": tool, "failure": error.describe()})
            raise
        elapsed_ms = (time.monotonic() - started) * 1000
        self._telemetry.timing("ToolCallLatency", elapsed_ms, tool=tool)
        logger.info("tool call", extra={"tool": tool, "milliseconds": round(elapsed_ms, 1)})
        return result

    def count_outcome(self, actions: list[Action], results: list[dict[str, Any]]) -> None:
        if not actions:
            self._telemetry.count("DedupHits")  # a repeat, a stale event or a joining alert: nothing to do
        for action, result in zip(actions, results, strict=False):
            if result.get("remembered"):
                self._telemetry.count("DedupHits")
                continue
            self._telemetry.count(ACTION_METRICS[action.kind])

    def _schema(self, tool: str) -> dict[str, Any]:
        schemas = self._tools.input_schemas()
        if tool not in schemas:
            raise ToolCallError(FailureKind.PERMANENT, f"the server offers no tool named {tool!r}", tool=tool)
        return schemas[tool]

    def _org(self, remaining: Remaining) -> Organisation:
        if self._organisation is None:
            document = self._tools.read_resource(ORGANISATION_RESOURCE, remaining_seconds=remaining)
            self._organisation = Organisation.from_resource(document)
        return self._organisation

    def _record(
        self,
        envelope: AlertEnvelope,
        explanation: list[str],
        reasons: list[str],
        actions: list[Action],
        results: list[dict[str, Any]],
        error: str | None,
    ) -> None:
        alert = envelope.alert
        entry = {
            "transition_id": alert.transition_id(),
            "correlation_id": envelope.correlation_id,
            "status": alert.status.value,
            "title": alert.title,
            "group_key": alert.group_key,
            "rules": explanation,
            "reasons": reasons,
            "actions": [action.model_dump(mode="json") for action in actions],
            "results": results,
            "error": error,
        }
        self._history.record(alert.source, alert.dedup_key, entry)
        logger.info(
            "decision",
            extra={
                "dedup_key": alert.dedup_key,
                "reasons": reasons,
                "actions": [a.kind for a in actions],
                "error": error,
            },
        )


def follow_up_plan(plan: Plan, state: GroupState, rules: RuleSet) -> Plan:
    """A resolve or acknowledgement follows the rules its episode started under, if they still exist.

    An `acknowledge` action from the rules that match the follow-up itself is kept as well.
    """
    if plan.alert.status is AlertStatus.FIRING or not state.episode_rules:
        return plan
    if [matched.rule for matched in plan.matched] == state.episode_rules:
        return plan
    episode = plan_with_rules(plan.alert, rules, state.episode_rules)
    if episode is None:
        return plan
    acknowledgements = [m for m in plan.matched if any(action.acknowledge for action in m.actions)]
    return episode.model_copy(
        update={"matched": episode.matched + acknowledgements, "explanation": plan.explanation + episode.explanation}
    )


def apply_results(state: GroupState, actions: list[Action], results: list[dict[str, Any]]) -> GroupState:
    for action, result in zip(actions, results, strict=False):
        if isinstance(action, OpenIncident):
            state = state.model_copy(update=opened_incident_fields(result))
        elif isinstance(action, Escalate) and result.get("escalation_id"):
            state = state.model_copy(update={"escalation_ids": [*state.escalation_ids, result["escalation_id"]]})
    return state


def _opened_incident(tool: str, result: dict[str, Any]) -> dict[str, Any]:
    """The incident a create answered with; an answer naming none leaves it unknown whether one was opened."""
    incident = incident_from_result(result)
    if not incident.get("id"):
        raise ToolCallError(FailureKind.AMBIGUOUS, "the answer names no incident", tool=tool)
    return incident
