"""Handles one queued alert: read group state, decide, perform each action once, save state, record why."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from .actions import Action, OpenIncident, ResolveIncident
from .alert import AlertEnvelope
from .decisions import decide
from .group_state import GroupState, group_id_for
from .organisation import Organisation
from .state_store import ActionLedger, Claim, DecisionHistory, GroupStateStore, StaleState
from .tool_errors import FailureKind, ToolCallError
from .tool_table import (
    ORGANISATION_RESOURCE,
    TOOLS,
    incident_from_result,
    open_incident_arguments,
    resolve_incident_arguments,
)

logger = logging.getLogger("alert_courier")
SAVE_ATTEMPTS = 5
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


class PermanentFailure(Exception):
    """This message can never succeed as it is (e.g. arguments rejected): dead-letter it with the reason."""


class Courier:
    def __init__(
        self,
        states: GroupStateStore,
        ledger: ActionLedger,
        history: DecisionHistory,
        tools: IncidentTools,
        on_tool_call: Callable[[str, dict[str, Any], dict[str, Any]], None] | None = None,
    ) -> None:
        self._states = states
        self._ledger = ledger
        self._history = history
        self._tools = tools
        self._organisation: Organisation | None = None
        self._on_tool_call = on_tool_call

    def handle(self, envelope: AlertEnvelope, remaining_seconds: Remaining = None) -> dict[str, Any]:
        alert = envelope.alert
        group_id = group_id_for(alert)
        for _ in range(SAVE_ATTEMPTS):
            state = self._states.load(group_id)
            decision = decide(alert, state)
            try:
                results = [self._perform(action, remaining_seconds) for action in decision.actions]
            except ToolCallError as error:
                self._record(envelope, decision.reasons, decision.actions, [], error=error.describe())
                if error.kind is FailureKind.PERMANENT:
                    raise PermanentFailure(error.describe()) from error
                raise
            next_state = _apply(decision.next_state, decision.actions, results)
            if next_state != state:
                try:
                    self._states.save(next_state)
                except StaleState:
                    continue  # another worker changed the group: decide again; done actions are remembered
            self._record(envelope, decision.reasons, decision.actions, results)
            return {"reasons": decision.reasons, "actions": [a.kind for a in decision.actions], "results": results}
        raise StaleState(group_id)

    # ---- performing one action exactly once ----------------------------------------------------

    def _perform(self, action: Action, remaining: Remaining) -> dict[str, Any]:
        claim = self._ledger.claim(action.action_key)
        if claim.done:
            return {**(claim.result or {}), "remembered": True}
        try:
            if isinstance(action, OpenIncident):
                result = self._open_incident(action, claim, remaining)
            else:
                result = self._resolve_incident(action, remaining)
        except ToolCallError as error:
            self._ledger.release(action.action_key, ambiguous=error.kind is FailureKind.AMBIGUOUS)
            raise
        except Exception:
            self._ledger.release(action.action_key, ambiguous=True)
            raise
        self._ledger.complete(action.action_key, result)
        return result

    def _open_incident(self, action: OpenIncident, claim: Claim, remaining: Remaining) -> dict[str, Any]:
        tool = TOOLS["open_incident"]
        arguments = open_incident_arguments(action, self._org(remaining), self._schema(tool))
        keyed = "idempotency_key" in arguments
        if claim.previously_ambiguous and not keyed:
            found = self._find_incident(action, claim.first_attempt_at, remaining)
            if found:
                return found
        try:
            result = self._call(tool, arguments, retry_ambiguous=keyed, remaining=remaining)
        except ToolCallError as error:
            if error.kind is not FailureKind.AMBIGUOUS:
                raise
            # The server may have opened it before the answer was lost: look before trying again.
            found = self._find_incident(action, claim.first_attempt_at, remaining)
            if found:
                return found
            result = self._call(tool, arguments, retry_ambiguous=False, remaining=remaining)
        incident = incident_from_result(result)
        return {"incident_id": incident.get("id"), "incident_reference": incident.get("reference")}

    def _find_incident(self, action: OpenIncident, since: float, remaining: Remaining) -> dict[str, Any] | None:
        from datetime import UTC, datetime

        after: str | None = None
        created_after = datetime.fromtimestamp(since - 120, UTC).isoformat()
        for _ in range(RECHECK_PAGES):
            arguments: dict[str, Any] = {"created_after": created_after, "page_size": 50}
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
        arguments = resolve_incident_arguments(action, self._org(remaining), self._schema(tool))
        result = self._call(tool, arguments, retry_ambiguous=True, remaining=remaining)
        incident = incident_from_result(result)
        status = incident.get("incident_status") or {}
        return {"incident_id": action.incident_id, "status": status.get("name") if isinstance(status, dict) else None}

    # ---- helpers ----------------------------------------------------------------------------

    def _call(
        self, tool: str, arguments: dict[str, Any], *, retry_ambiguous: bool, remaining: Remaining
    ) -> dict[str, Any]:
        result = self._tools.call_tool(tool, arguments, retry_ambiguous=retry_ambiguous, remaining_seconds=remaining)
        if self._on_tool_call:
            self._on_tool_call(tool, arguments, result)
        return result

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
        reasons: list[str],
        actions: list[Action],
        results: list[dict[str, Any]],
        *,
        error: str | None = None,
    ) -> None:
        alert = envelope.alert
        entry = {
            "transition_id": alert.transition_id(),
            "correlation_id": envelope.correlation_id,
            "status": alert.status.value,
            "title": alert.title,
            "group_key": alert.group_key,
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


def _apply(state: GroupState, actions: list[Action], results: list[dict[str, Any]]) -> GroupState:
    for action, result in zip(actions, results, strict=True):
        if isinstance(action, OpenIncident):
            state = state.model_copy(
                update={
                    "incident_open": True,
                    "incident_id": result.get("incident_id"),
                    "incident_reference": result.get("incident_reference"),
                }
            )
        elif isinstance(action, ResolveIncident):
            state = state.model_copy(update={"incident_open": False})
    return state
