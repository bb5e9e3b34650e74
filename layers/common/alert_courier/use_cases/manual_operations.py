"""An operator's `ack`, `resolve` or `forget` of one alert group: read its state, decide (`decide_manual`),
perform each action once (the runner and its ledger, shared with dispatch and the scheduler), save, and record
the operation in the group's history with who did it and why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alert_courier.domain.group_state import GroupState
from alert_courier.domain.manual_operations import ManualDecision, Operation, decide_manual
from alert_courier.domain.rules import RuleSet
from alert_courier.use_cases.history_entry import history_entry
from alert_courier.use_cases.ports import Clock, GroupStates, History
from alert_courier.use_cases.runner import ActionRunner
from alert_courier.use_cases.saving import until_saved

HISTORY_KEYS_PER_GROUP = 10  # as the scheduler's records: under each firing alert (up to 10), else the group key


@dataclass
class ManualResult:
    operation: Operation
    group_key: str
    reasons: list[str]
    actions: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    changed: bool = False


class ManualOperations:
    def __init__(
        self,
        states: GroupStates,
        runner: ActionRunner,
        history: History,
        rules: Callable[[], RuleSet],
        *,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._states = states
        self._runner = runner
        self._history = history
        self._rules = rules
        self._clock = clock

    def perform(self, operation: Operation, state_id: str, *, by: str, reason: str = "") -> ManualResult:
        """The state is saved only if every action succeeded: a failed resolve leaves the episode open (run it
        again; what was done is remembered)."""
        rules = self._rules()

        def attempt() -> ManualResult:
            state = self._states.load(state_id)
            decision = decide_manual(operation, state, rules, self._clock(), by=by, reason=reason)
            results, error = self._runner.perform_all(decision.actions, state, None)
            changed = error is None and decision.next_state != state
            if changed:
                self._states.save(decision.next_state)  # StaleState: decide again (the actions are remembered)
            result = ManualResult(
                operation,
                state.group_key,
                decision.reasons,
                [action.model_dump(mode="json") for action in decision.actions],
                results,
                error.describe() if error is not None else None,
                changed,
            )
            self._record(state, decision, result, by, reason)
            return result

        return until_saved(state_id, attempt)

    def _record(self, before: GroupState, decision: ManualDecision, result: ManualResult, by: str, reason: str) -> None:
        entry = history_entry(
            transition_id=f"manual-{result.operation}-{self._clock().isoformat()}",
            correlation_id=f"manual-{by}",
            status="manual",
            title=f"manual {result.operation} by {by}",
            rules=[],
            reasons=decision.reasons,
            actions=decision.actions,
            results=result.results,
            error=result.error,
            group_key=before.group_key,
            group_id=before.group_id,
            generation=before.generation,
            incident_reference=before.incident_reference,
            manual={"operation": result.operation, "by": by, "reason": reason},
        )
        for key in sorted(before.firing)[:HISTORY_KEYS_PER_GROUP] or [before.group_key or before.group_id]:
            self._history.record(before.source or "manual", key, entry)
