"""Performs actions exactly once: a ledger claim before the side effect, its result recorded after.

Dispatch and the scheduler share this runner (and so one memory of what was done): a redelivered message or an
overlapping run finds the action done and gets its remembered result instead of acting again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alert_courier.domain.actions import Action
from alert_courier.domain.errors import ActionFailed
from alert_courier.domain.group_state import GroupState
from alert_courier.use_cases.ports import ActionExecutor, Ledger, Remaining, Telemetry
from alert_courier.use_cases.telemetry import NoTelemetry

ACTION_METRICS = {
    "open_incident": "IncidentsOpened",
    "resolve_incident": "IncidentsResolved",
    "update_incident": "IncidentsUpdated",
    "reopen_incident": "IncidentsReopened",
    "flapping_update": "FlappingUpdates",
    "storm_update": "StormUpdates",
    "alert_event": "AlertEventsSent",
    "escalate": "Escalations",
    "acknowledge_escalation": "Acknowledgements",
}


class ActionRunner:
    def __init__(self, ledger: Ledger, executor: ActionExecutor, telemetry: Telemetry | None = None) -> None:
        self._ledger = ledger
        self._executor = executor
        self._telemetry: Telemetry = telemetry or NoTelemetry()

    @property
    def executor(self) -> ActionExecutor:
        return self._executor

    def perform(
        self, action: Action, state: GroupState, earlier: Sequence[dict[str, Any]], remaining: Remaining
    ) -> dict[str, Any]:
        """One action, once. `earlier`: the results of this decision's previous actions (an escalation pages the
        incident the decision just opened). A failure releases the claim; an ambiguous one is remembered."""
        claim = self._ledger.claim(action.action_key)
        if claim.done:
            return {**(claim.result or {}), "remembered": True}
        try:
            result = self._executor.execute(action, claim, state, earlier, remaining)
        except ActionFailed as error:
            self._ledger.release(action.action_key, ambiguous=error.ambiguous)
            raise
        except Exception:
            self._ledger.release(action.action_key, ambiguous=True)
            raise
        self._ledger.complete(action.action_key, result)
        return result

    def perform_all(
        self, actions: Sequence[Action], state: GroupState, remaining: Remaining
    ) -> tuple[list[dict[str, Any]], ActionFailed | None]:
        """Each action in order; stops at the first failure and returns it with the results of those done."""
        results: list[dict[str, Any]] = []
        for action in actions:
            try:
                results.append(self.perform(action, state, results, remaining))
            except ActionFailed as error:
                return results, error
        self.count_outcome(actions, results)
        return results, None

    def count_outcome(self, actions: Sequence[Action], results: Sequence[dict[str, Any]]) -> None:
        if not actions:
            self._telemetry.count("DedupHits")  # a repeat, a stale event or a joining alert: nothing to do
        for action, result in zip(actions, results, strict=False):
            if result.get("remembered"):
                self._telemetry.count("DedupHits")
                continue
            self._telemetry.count(ACTION_METRICS[action.kind])
