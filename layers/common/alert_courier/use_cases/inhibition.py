"""Inhibition in dispatch and the scheduler (decisions in `domain.inhibition`).

`InhibitionGate` is dispatch's outermost entry: it records a source alert's firing or resolve in the inhibition
index, then holds a firing target whose entry has another firing source (recorded in the history, nothing
called); every other alert goes on to the maintenance gate and the courier. Sources are indexed before the
maintenance windows are consulted, so a source a window holds still inhibits (as in Alertmanager, where a
silenced alert still inhibits).

Ordering, decided:
- a target that arrives before its source is acted on as usual; its incident stays open until the target itself
  resolves (inhibition does not close what was opened before it applied);
- a target's resolve is never inhibited: it goes through (closing an incident opened before the source fired)
  and drops what was held of it;
- a source that resolves while targets are held: `InhibitionEnds` (the scheduler) hands each held target's latest
  transition to the gate once, which checks it again (another source may fire) and acts on it if not.

Cost: nothing for alerts no inhibit rule matches; one Query per matching target entry, one write per source
transition, one write per held target.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus
from alert_courier.domain.errors import ActionBusy, ActionFailed, PermanentFailure, StaleState
from alert_courier.domain.inhibition import (
    InhibitEntry,
    SourceChange,
    alert_key,
    as_target,
    inhibited_by,
    released,
    resolved_in,
    source_changes,
)
from alert_courier.domain.maintenance import MaintenanceWindow
from alert_courier.domain.reconciliation import RECONCILER
from alert_courier.domain.rules import RuleSet
from alert_courier.use_cases.courier import ManyOutcome
from alert_courier.use_cases.history_entry import record_without_action
from alert_courier.use_cases.ports import Clock, History, Remaining, Telemetry
from alert_courier.use_cases.run_report import RunReport, out_of_time
from alert_courier.use_cases.telemetry import NoTelemetry

logger = logging.getLogger("alert_courier")


@dataclass(frozen=True)
class HeldTarget:
    entry_key: str
    alert_key: str
    envelope: AlertEnvelope


class InhibitionStore(Protocol):
    """The firing sources per entry and the targets held (the real one is `aws.inhibition_store`)."""

    def firing_sources(self, entry_key: str) -> set[str]: ...

    def record_source(self, change: SourceChange) -> None:
        """Applies the change as `domain.inhibition.apply_source_change` says (stale ones change nothing); a firing
        also remembers its entry under the source alert's key (`entries_of`)."""
        ...

    def entries_of(self, alert_key: str) -> list[InhibitEntry]:
        """The entries this source alert was recorded firing in."""
        ...

    def hold(self, entry_key: str, envelope: AlertEnvelope) -> None: ...

    def held(self) -> list[HeldTarget]: ...

    def release(self, held: HeldTarget) -> bool:
        """Deletes the held item if it still holds this envelope (False: a newer transition was held since)."""
        ...

    def drop(self, entry_key: str, alert_key: str) -> None: ...


class Entry(Protocol):
    """The maintenance gate (`windows`: a window's end hands on what it held with the windows it read)."""

    def handle(
        self,
        envelope: AlertEnvelope,
        remaining_seconds: Remaining = None,
        *,
        windows: list[MaintenanceWindow] | None = None,
    ) -> dict[str, Any]: ...

    def handle_many(self, envelopes: Sequence[AlertEnvelope], remaining_seconds: Remaining = None) -> ManyOutcome: ...


class InhibitionGate:
    def __init__(
        self,
        inner: Entry,
        store: InhibitionStore,
        history: History,
        rules: Callable[[], RuleSet],
        *,
        clock: Clock = lambda: datetime.now(UTC),
        telemetry: Telemetry | None = None,
    ) -> None:
        self._inner = inner
        self._store = store
        self._history = history
        self._rules = rules
        self._clock = clock
        self._telemetry: Telemetry = telemetry or NoTelemetry()

    @property
    def inner(self) -> Entry:
        return self._inner

    def handle(
        self,
        envelope: AlertEnvelope,
        remaining_seconds: Remaining = None,
        *,
        windows: list[MaintenanceWindow] | None = None,
    ) -> dict[str, Any]:
        """`windows`: passed on to the maintenance gate (a window's end hands what it held through here too, so a
        target it held is still inhibited if its source fires then)."""
        rules = self._rules()
        if not rules.inhibit_rules:
            return self._inner.handle(envelope, remaining_seconds, windows=windows)
        inhibited = self._inhibit(envelope, rules)
        if inhibited is not None:
            return inhibited
        return self._inner.handle(envelope, remaining_seconds, windows=windows)

    def handle_many(self, envelopes: Sequence[AlertEnvelope], remaining_seconds: Remaining = None) -> ManyOutcome:
        """One queued message's alerts: each judged alone, in the message's order (a source among them counts for
        the targets after it); the rest go on together to the maintenance gate."""
        rules = self._rules()
        if not rules.inhibit_rules:
            return self._inner.handle_many(envelopes, remaining_seconds)
        passed: list[AlertEnvelope] = []
        inhibited: list[dict[str, Any]] = []
        for envelope in envelopes:
            outcome = self._inhibit(envelope, rules)
            if outcome is None:
                passed.append(envelope)
            else:
                inhibited.append(outcome)
        total = self._inner.handle_many(passed, remaining_seconds) if passed else ManyOutcome()
        total.outcomes += inhibited
        return total

    def _inhibit(self, envelope: AlertEnvelope, rules: RuleSet) -> dict[str, Any] | None:
        """Records a source's change; holds and records a target a firing source inhibits (its outcome), or
        None: the alert goes on."""
        alert = envelope.alert
        self.hear(alert, rules)
        inhibited = inhibited_by(alert, rules, self._sources)
        if inhibited is not None:
            self._store.hold(inhibited.entry.key, envelope)  # before the history: a failed write is redelivered
            reasons = inhibited.reasons()
            self._record(envelope, reasons)
            self._telemetry.count("AlertsInhibited", source=alert.source)
            logger.info("inhibited", extra={"dedup_key": alert.dedup_key, "inhibit_rule": inhibited.entry.rule})
            return {
                "dedup_key": alert.dedup_key,
                "reasons": reasons,
                "actions": [],
                "results": [],
                "inhibited_by": inhibited.entry.key,
            }
        if alert.status is AlertStatus.RESOLVED:
            for entry in as_target(alert, rules):  # what was held of it is over: its resolve goes through
                self._store.drop(entry.key, alert_key(alert))
        return None

    def hear(self, alert: Alert, rules: RuleSet | None = None) -> None:
        """Records how `alert` changes the firing sources (idempotent writes: a redelivery repeats them harmlessly).
        The reconcile pass calls it too, before acting on what it synthesized: a source whose resolve was lost
        inhibits no more once the pass resolves it. Its resolves carry none of the alert's labels, so they end the
        alert in the entries it was recorded firing in (one Query, for the pass's resolves only)."""
        rules = rules or self._rules()
        if not rules.inhibit_rules:
            return
        changes = source_changes(alert, rules)
        if alert.status is AlertStatus.RESOLVED and alert.raw.get("sender") == RECONCILER:
            named = {change.entry.key for change in changes}
            changes += resolved_in(alert, [e for e in self._store.entries_of(alert_key(alert)) if e.key not in named])
        for change in changes:
            self._store.record_source(change)

    def _sources(self, entry: InhibitEntry) -> set[str]:
        return self._store.firing_sources(entry.key)

    def record(self, envelope: AlertEnvelope, reasons: list[str]) -> None:
        self._record(envelope, reasons)

    def _record(self, envelope: AlertEnvelope, reasons: list[str]) -> None:
        record_without_action(self._history, envelope, reasons)


class InhibitionEnds:
    """The scheduler's part: each held target whose entry has no other firing source goes through the gate once.

    Idempotent: a repeated or concurrent run hands the same transition to the courier again, which recognises it
    (a repeat) and acts on nothing twice. A held item is released only if it still holds what was handed on."""

    def __init__(
        self,
        gate: InhibitionGate,
        store: InhibitionStore,
        *,
        dead_letter: Callable[[AlertEnvelope, str], None] | None = None,
    ) -> None:
        self._gate = gate
        self._store = store
        self._dead_letter = dead_letter

    def run(self, report: RunReport, remaining: Remaining = None) -> None:
        sources: dict[str, set[str]] = {}
        for held in self._store.held():
            if out_of_time(remaining):
                report.deferred += 1
                return
            if held.entry_key not in sources:
                sources[held.entry_key] = self._store.firing_sources(held.entry_key)
            if not released(sources[held.entry_key], held.alert_key):
                continue
            self._gate.record(
                held.envelope,
                [f"inhibit rule entry {held.entry_key}: no source fires any more; the latest transition goes on"],
            )
            try:
                outcome = self._gate.handle(held.envelope, remaining)
            except PermanentFailure as failure:
                if self._dead_letter is None:
                    report.errors.append(f"{held.entry_key}: {held.alert_key}: {failure}")
                    continue
                self._dead_letter(held.envelope, str(failure))
                outcome = {}
            except (ActionBusy, StaleState):
                report.busy.append(f"{held.entry_key}:{held.alert_key}")
                continue
            except ActionFailed as failure:
                report.errors.append(f"{held.entry_key}: {held.alert_key}: {failure.describe()}")
                continue
            if outcome.get("inhibited_by") == held.entry_key:
                continue  # a source fired again meanwhile: held again, under the same item
            self._store.release(held)
            report.inhibited_replayed.append(f"{held.entry_key}:{held.alert_key}")
