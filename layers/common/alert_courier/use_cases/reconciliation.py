"""The scheduled reconcile pass: the groups alert-courier holds open, compared with the monitoring systems' current
truth (CloudWatch alarm states, an Alertmanager's active alerts), the rules' `stale_after`, and the incident's own
status in incident.io (closed by a person).

Every change is a synthesized alert decided by `decide_alert` and performed by the same `Courier` as dispatch (so
once, through the ledger), or a person's close (`decisions.close_by_human`, which calls nothing). A dry run
(`plan`) decides the same alerts on the same states without acting or saving: what it prints is what `run` then
does, unless the world changes in between.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from alert_courier.domain.alert import Alert, AlertEnvelope
from alert_courier.domain.decisions import close_by_human, decide_alert
from alert_courier.domain.errors import ActionBusy, ActionFailed, PermanentFailure, StaleState
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.reconciliation import (
    FINISH_UNFINISHED,
    Observation,
    finish_alert,
    reconcile_alerts,
    stale_alerts,
)
from alert_courier.domain.rules import RuleSet
from alert_courier.use_cases.courier import Courier
from alert_courier.use_cases.history_entry import history_entry
from alert_courier.use_cases.ports import Clock, GroupStates, History, Remaining, Telemetry
from alert_courier.use_cases.run_report import RunReport, out_of_time
from alert_courier.use_cases.saving import until_saved
from alert_courier.use_cases.telemetry import NoTelemetry

logger = logging.getLogger("alert_courier")


class OpenGroups(Protocol):
    """The ids of the groups we hold open (an incident open or an alert firing), for the reconcile pass."""

    def open_group_ids(self) -> list[str]: ...


class TruthSource(Protocol):
    """A monitoring system's current view of some of the alerts we hold (CloudWatch, an Alertmanager API)."""

    name: str  # "CloudWatch", "Alertmanager"

    def covers(self, state: GroupState) -> bool:
        """Whether this source can say anything about the group's alerts."""
        ...

    def observe(self, states: list[GroupState]) -> dict[str, Observation]:
        """dedup key → what the system says now, for the alerts of `states` it knows (batched by the adapter)."""
        ...


class IncidentStatuses(Protocol):
    """incident.io's view of the incidents we hold open (budgeted, lowest priority)."""

    def closed_by_others(self, incident_ids: list[str]) -> dict[str, str]:
        """incident id → words ("incident.io says INC-4 is Closed") for those a person closed or resolved."""
        ...


@dataclass(frozen=True)
class ReconcileChange:
    """One change of a pass, as the dry run prints it and the real pass performs it."""

    group_id: str
    source: str
    dedup_key: str
    change: str  # "resolve", "fire", "finish" (a quiet group's leftovers), "closed_by_human"
    says: str
    actions: tuple[str, ...]

    def line(self) -> str:
        acts = ", ".join(self.actions) or "no call"
        return f"{self.source}/{self.dedup_key} {self.change}: {self.says} -> {acts} (group {self.group_id})"


@dataclass
class ReconcileReport:
    changes: list[ReconcileChange] = field(default_factory=list)
    groups_checked: int = 0
    errors: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(
        self,
        *,
        courier: Courier,
        states: GroupStates,
        open_groups: OpenGroups,
        history: History,
        rules: Callable[[], RuleSet],
        truths: list[TruthSource] | None = None,
        incidents: IncidentStatuses | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        telemetry: Telemetry | None = None,
        requeue: Callable[[AlertEnvelope], None] | None = None,
        sources: Callable[[Alert], None] | None = None,
    ) -> None:
        self._requeue = requeue  # where a synthesized alert goes when acting on it failed: dispatch's queue
        # The inhibition index hears what the pass synthesizes before it is acted on, as in dispatch's entry
        # (`InhibitionGate.hear`): a source whose resolve was lost inhibits no more once the pass resolves it.
        self._sources = sources
        self._courier = courier
        self._states = states
        self._open_groups = open_groups
        self._history = history
        self._rules = rules
        self._truths = truths or []
        self._incidents = incidents
        self._clock = clock
        self._telemetry: Telemetry = telemetry or NoTelemetry()

    def plan(self) -> ReconcileReport:
        """The dry run: what `run` would change now, decided on the current states, nothing called or saved."""
        return self._pass(dry_run=True, remaining=None)

    def run(self, report: RunReport | None = None, remaining: Remaining = None) -> ReconcileReport:
        result = self._pass(dry_run=False, remaining=remaining)
        for change in result.changes:
            self._telemetry.count("Reconciled", 1, change=change.change)
        if report is not None:
            report.reconciled += [change.line() for change in result.changes]
            report.errors += result.errors
        return result

    def _pass(self, *, dry_run: bool, remaining: Remaining) -> ReconcileReport:
        rules, now, result = self._rules(), self._clock(), ReconcileReport()
        states = [self._states.load(group_id) for group_id in self._open_groups.open_group_ids()]
        states = [state for state in states if state.firing or state.incident_open or state.unfinished]
        result.groups_checked = len(states)
        spec = rules.reconcile
        closed: dict[str, str] = {}
        if self._incidents is not None and spec.human_close:
            # a group with unfinished work may have closed its incident itself (a resolve whose record was lost)
            held = sorted({s.incident_id for s in states if s.incident_open and s.incident_id and not s.unfinished})
            closed = self._incidents.closed_by_others(held) if held else {}
        observations: dict[str, Observation] = {}
        for truth in self._truths:
            covered = [state for state in states if truth.covers(state)]
            if covered:
                observations |= truth.observe(covered)
        for state in states:
            if out_of_time(remaining):
                result.errors.append(f"group {state.group_id}: out of time, left for the next pass")
                continue
            try:
                if state.incident_id in closed:
                    result.changes.append(self._human_close(state, closed[state.incident_id], rules, now, dry_run))
                    continue
                if state.firing or state.incident_open:
                    alerts = reconcile_alerts(state, observations, now) or stale_alerts(state, rules, now, observations)
                else:  # here only for its leftovers: a quiet group is not fired again (its sender does that)
                    finish = finish_alert(state, now)
                    alerts = [finish] if finish is not None else []
                result.changes += self._apply(state, alerts, rules, now, dry_run, remaining)
            except (ActionFailed, ActionBusy, StaleState, PermanentFailure) as error:
                described = error.describe() if isinstance(error, ActionFailed) else f"{type(error).__name__} {error}"
                result.errors.append(f"group {state.group_id}: reconcile: {described}")
                logger.error("reconcile failed", extra={"group_id": state.group_id, "error": described})
        return result

    def _apply(
        self, state: GroupState, alerts: list[Alert], rules: RuleSet, now: datetime, dry_run: bool, remaining: Remaining
    ) -> list[ReconcileChange]:
        changes = []
        for alert in alerts:
            change = "fire" if alert.status.value == "firing" else "resolve"
            if alert.raw.get(FINISH_UNFINISHED):
                change = "finish"
            says = str(alert.raw.get("reconciled", ""))
            if dry_run:
                decision = decide_alert(alert, state, rules, now)
                state = decision.next_state
                kinds: tuple[str, ...] = tuple(action.kind for action in decision.actions)
            else:
                envelope = AlertEnvelope(alert=alert, correlation_id=f"reconcile-{uuid.uuid4().hex[:12]}")
                if self._sources is not None:
                    self._sources(alert)
                try:
                    outcome: dict[str, Any] = self._courier.handle(envelope, remaining, state_id=state.group_id)
                except (ActionFailed, ActionBusy, StaleState, PermanentFailure):
                    # Its state may already say the alert is over (write-ahead), so no later pass synthesizes it
                    # again: the queue redelivers it to dispatch until it is done (or dead-letters it, with why).
                    # A quiet group's leftovers stay in its state, where the next pass finds them again.
                    if self._requeue is None or alert.raw.get(FINISH_UNFINISHED):
                        raise
                    self._requeue(envelope)
                    self._telemetry.count("ReconcileRequeued", 1)
                    kinds = ("queued for dispatch",)
                    changes.append(ReconcileChange(state.group_id, state.source, alert.dedup_key, change, says, kinds))
                    continue
                kinds = tuple(outcome["actions"])
            changes.append(ReconcileChange(state.group_id, state.source, alert.dedup_key, change, says, kinds))
        return changes

    def _human_close(
        self, state: GroupState, says: str, rules: RuleSet, now: datetime, dry_run: bool
    ) -> ReconcileChange:
        change = ReconcileChange(state.group_id, state.source, state.group_key, "closed_by_human", says, ())
        if dry_run:
            return change

        def attempt() -> None:
            current = self._states.load(state.group_id)
            decision = close_by_human(current, rules, says, now)
            if decision.next_state != current:
                self._states.save(decision.next_state)
            entry = history_entry(
                transition_id=f"closed-by-human#{state.group_id}#{current.generation}",
                correlation_id=f"reconcile-{uuid.uuid4().hex[:12]}",
                status="closed_by_human",
                title=f"incident {current.incident_reference or current.incident_id} closed in incident.io",
                group_key=current.group_key,
                rules=list(current.episode_rules),
                reasons=decision.reasons,
                actions=[],
                results=[],
                error=None,
                group_id=current.group_id,
                generation=current.generation,
                incident_reference=current.incident_reference,
            )
            for key in sorted(current.firing) or [current.group_key]:
                self._history.record(current.source, key, entry)

        until_saved(state.group_id, attempt)
        return change
