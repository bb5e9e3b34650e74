"""Handles queued alerts: read their group's state, decide (`decide_alert`), perform each action once, save,
record the decisions.

`handle_many` takes one queued message's alerts (one notification's alerts of one group): one state read, the
alerts decided in order over the state as each leaves it, one conditional write at the end (none when nothing
changed), and the history in one batch write. An alert that calls incident.io adds one write before its calls
(the write-ahead that leaves them unfinished should the worker die); the ledger keeps each call once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from alert_courier.domain.actions import Action
from alert_courier.domain.alert import AlertEnvelope
from alert_courier.domain.decisions import AlertDecision, apply_results, decide_alert, state_id_of
from alert_courier.domain.errors import ActionFailed, GroupTooLarge, PermanentFailure
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.rules import Plan, RuleSet
from alert_courier.domain.unfinished_work import leave_unfinished, undone_after
from alert_courier.use_cases.history_entry import history_entry
from alert_courier.use_cases.ports import Clock, GroupStates, History, Remaining
from alert_courier.use_cases.runner import ActionRunner
from alert_courier.use_cases.saving import until_saved

logger = logging.getLogger("alert_courier")
# One INFO record per decision, on a child logger (same handlers and level through the parent), so that the local
# stack can print the decisions that call nothing (suppressed, joined) without turning on every INFO log.
DECISIONS_LOGGER = "alert_courier.decisions"
decision_logger = logging.getLogger(DECISIONS_LOGGER)


@dataclass
class ManyOutcome:
    """What `handle_many` did: one outcome per alert handled (named by its "dedup_key"; grouped by state, so not
    necessarily in the message's order), and the alerts that can never succeed as they are
    (dispatch dead-letters each alone; the others of the message are not held back by them)."""

    outcomes: list[dict[str, Any]] = field(default_factory=list)
    permanent: list[tuple[AlertEnvelope, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Told:
    """What the history and the log keep of a decision: not its `next_state`, which a message of M alerts on a
    group of N would otherwise hold M times over (M copies of an N-alert state: 1.8 GiB for 2,000 on 24,000)."""

    plan: Plan
    actions: list[Action]
    reasons: list[str]
    group_id: str
    generation: int
    incident_reference: str | None

    @classmethod
    def of(cls, decision: AlertDecision) -> _Told:
        state = decision.next_state
        return cls(
            decision.plan,
            decision.actions,
            decision.reasons,
            state.group_id,
            state.generation,
            state.incident_reference,
        )


@dataclass(frozen=True)
class _Decided:
    envelope: AlertEnvelope
    decision: _Told
    results: list[dict[str, Any]]
    error: ActionFailed | str | None


class Courier:
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

    @property
    def runner(self) -> ActionRunner:
        return self._runner

    def handle(
        self, envelope: AlertEnvelope, remaining_seconds: Remaining = None, *, state_id: str | None = None
    ) -> dict[str, Any]:
        """Raises `PermanentFailure` when the message can never succeed as it is (dead-letter it), and other
        `ActionFailed`s (or `StaleState`, `ActionBusy`) when a later delivery may succeed.

        `state_id`: the group the alert belongs to when the caller knows it (the reconciler's synthesized alerts
        carry too few labels to be matched to a per-alert rule again)."""
        rules = self._rules()
        state_id = state_id or state_id_of(envelope.alert, rules)

        def attempt() -> dict[str, Any]:
            state = self._states.load(state_id)
            decision = decide_alert(envelope.alert, state, rules, self._clock())
            transition = envelope.alert.transition_id()
            base = decision.next_state
            if decision.actions:  # write-ahead: a worker dying after a side effect leaves it unfinished here
                base = self._save(envelope, decision, leave_unfinished(base, transition, decision.actions), [])
            results, error = self._runner.perform_all(decision.actions, state, remaining_seconds)
            undone = undone_after(decision.actions, results)  # left for this message's redelivery or replay
            next_state = leave_unfinished(apply_results(base, decision.actions, results), transition, undone)
            if next_state != state:
                self._save(envelope, decision, next_state, results)  # StaleState: decide again (actions remembered)
            self._record(envelope, _Told.of(decision), results, error)
            if error is not None:
                if error.permanent:
                    raise PermanentFailure(error.describe()) from error
                raise error
            return {"reasons": decision.reasons, "actions": [a.kind for a in decision.actions], "results": results}

        return until_saved(state_id, attempt)

    def handle_many(self, envelopes: Sequence[AlertEnvelope], remaining_seconds: Remaining = None) -> ManyOutcome:
        """Decides over all `envelopes` at once, per group state in the order given. Raises like `handle` for a
        failure that a redelivery of the whole message may get past (alerts already decided are repeats then);
        an alert whose action fails for good is left in `permanent` and the rest go on."""
        rules = self._rules()
        by_state: dict[str, list[AlertEnvelope]] = {}
        for envelope in envelopes:
            by_state.setdefault(state_id_of(envelope.alert, rules), []).append(envelope)
        total = ManyOutcome()
        for state_id, members in by_state.items():
            done = until_saved(state_id, partial(self._attempt_many, state_id, members, rules, remaining_seconds))
            total.outcomes += done.outcomes
            total.permanent += done.permanent
        return total

    def _attempt_many(
        self, state_id: str, envelopes: list[AlertEnvelope], rules: RuleSet, remaining_seconds: Remaining
    ) -> ManyOutcome:
        saved = current = self._states.load(state_id)
        decided: list[_Decided] = []
        outcome = ManyOutcome()
        for envelope in envelopes:
            decision = decide_alert(envelope.alert, current, rules, self._clock())
            if not decision.actions:
                current = decision.next_state
                decided.append(_Decided(envelope, _Told.of(decision), [], None))
                continue
            transition = envelope.alert.transition_id()
            before = current
            ahead = leave_unfinished(decision.next_state, transition, decision.actions)
            told = _Told.of(decision)
            saved = current = self._save_many(decided, _Decided(envelope, told, [], None), ahead)
            results, error = self._runner.perform_all(decision.actions, before, remaining_seconds)
            undone = undone_after(decision.actions, results)
            current = leave_unfinished(apply_results(current, decision.actions, results), transition, undone)
            decided.append(_Decided(envelope, told, results, error))
            if error is None:
                continue
            if error.permanent:
                outcome.permanent.append((envelope, error.describe()))
                continue
            if current != saved:
                self._save_many(decided[:-1], decided[-1], current)
            self._record_many(decided)
            raise error
        if current != saved:
            self._save_many(decided[:-1], decided[-1], current)
        self._record_many(decided)
        outcome.outcomes = [
            {
                "dedup_key": item.envelope.alert.dedup_key,
                "reasons": item.decision.reasons,
                "actions": [a.kind for a in item.decision.actions],
                "results": item.results,
            }
            for item in decided
        ]
        return outcome

    def _save_many(self, before: list[_Decided], last: _Decided, state: GroupState) -> GroupState:
        try:
            return self._states.save(state)
        except GroupTooLarge as too_large:
            self._record_many([*before, _Decided(last.envelope, last.decision, last.results, str(too_large))])
            raise PermanentFailure(str(too_large)) from too_large

    def _record_many(self, decided: list[_Decided]) -> None:
        items = [self._entry(d.envelope, d.decision, d.results, d.error) for d in decided]
        self._history.record_many(
            [(d.envelope.alert.source, d.envelope.alert.dedup_key, e) for d, e in zip(decided, items, strict=True)]
        )
        for d, entry in zip(decided, items, strict=True):
            self._log(d.envelope, d.decision, entry)

    def _save(
        self, envelope: AlertEnvelope, decision: AlertDecision, state: GroupState, results: list[dict[str, Any]]
    ) -> GroupState:
        try:
            return self._states.save(state)
        except GroupTooLarge as too_large:
            self._record(envelope, _Told.of(decision), results, str(too_large))
            raise PermanentFailure(str(too_large)) from too_large

    def _record(
        self,
        envelope: AlertEnvelope,
        decision: _Told,
        results: list[dict[str, Any]],
        error: ActionFailed | str | None,
    ) -> None:
        entry = self._entry(envelope, decision, results, error)
        self._history.record(envelope.alert.source, envelope.alert.dedup_key, entry)
        self._log(envelope, decision, entry)

    def _entry(
        self,
        envelope: AlertEnvelope,
        decision: _Told,
        results: list[dict[str, Any]],
        error: ActionFailed | str | None,
    ) -> dict[str, Any]:
        alert = envelope.alert
        return history_entry(
            transition_id=alert.transition_id(),
            correlation_id=envelope.correlation_id,
            status=alert.status.value,
            title=alert.title,
            group_key=alert.group_key,
            rules=decision.plan.explanation,
            reasons=decision.reasons,
            actions=decision.actions,
            results=results,
            error=error,
            intake_notes=[str(note) for note in alert.raw.get("intake_notes", [])],
            group_id=decision.group_id,
            generation=decision.generation,
            incident_reference=_incident_reference(decision, results),
        )

    def _log(self, envelope: AlertEnvelope, decision: _Told, entry: dict[str, Any]) -> None:
        alert = envelope.alert
        decision_logger.info(
            "decision",
            extra={
                "source": alert.source,
                "dedup_key": alert.dedup_key,
                "status": alert.status.value,
                "rules": [matched.rule for matched in decision.plan.matched],
                "reasons": decision.reasons,
                "actions": [a.kind for a in decision.actions],
                "error": entry["error"],
            },
        )


def _incident_reference(decision: _Told, results: list[dict[str, Any]]) -> str | None:
    """The group's incident as this decision leaves it: the one it opened, else the one it found open."""
    opened = [str(result["incident_reference"]) for result in results if result.get("incident_reference")]
    return opened[-1] if opened else decision.incident_reference
