"""Maintenance windows in dispatch and the scheduler: the gate in front of the courier holds what an open window
covers; the scheduler's window ends hand what was held to the normal decision path once (domain.maintenance).

Dispatch reads the windows through `CachedWindows`: one read of the store per container every
`WINDOW_CACHE_SECONDS`, none per message. A held alert costs one write (the held item) besides its history entry.
A window opened or ended takes up to that long to reach a warm container; a hold made by a container that had
not yet seen an early end is replayed by the scheduler's next run (a window is only settled once no container can
still be holding under it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from alert_courier.domain.alert import AlertEnvelope
from alert_courier.domain.errors import ActionBusy, ActionFailed, PermanentFailure, StaleState
from alert_courier.domain.maintenance import MaintenanceWindow, at_end, holding_reasons, window_holding
from alert_courier.domain.rules import RuleSet
from alert_courier.use_cases.courier import ManyOutcome
from alert_courier.use_cases.history_entry import record_without_action
from alert_courier.use_cases.ports import Clock, History, Remaining, Telemetry
from alert_courier.use_cases.run_report import RunReport, out_of_time
from alert_courier.use_cases.storm import Handler  # the courier, or the storm gate in front of it
from alert_courier.use_cases.telemetry import NoTelemetry

logger = logging.getLogger("alert_courier")
WINDOW_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class HeldAlert:
    key: str  # the store's key of this held transition (released by it)
    envelope: AlertEnvelope


class WindowStore(Protocol):
    """Windows and the alerts they hold (the real one is `aws.maintenance_store.MaintenanceStore`)."""

    def windows(self) -> list[MaintenanceWindow]: ...

    def hold(self, window: MaintenanceWindow, envelope: AlertEnvelope) -> None: ...

    def held(self, window_id: str) -> list[HeldAlert]: ...

    def release(self, window_id: str, keys: list[str]) -> None: ...

    def settle(self, window: MaintenanceWindow, now: datetime) -> None: ...


class CachedWindows:
    """The store's windows, re-read at most every `seconds` (per container; dispatch calls it per message)."""

    def __init__(
        self, store: WindowStore, *, seconds: float = WINDOW_CACHE_SECONDS, clock: Callable[[], float] | None = None
    ) -> None:
        import time

        self._store = store
        self._seconds = seconds
        self._clock = clock or time.monotonic
        self._read_at: float | None = None
        self._windows: list[MaintenanceWindow] = []
        self._lock = threading.Lock()

    def __call__(self) -> list[MaintenanceWindow]:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._seconds:
                self._windows = [window for window in self._store.windows() if window.settled_at is None]
                self._read_at = now
            return self._windows


class MaintenanceGate:
    """Dispatch's entry: an alert an open window covers is held and recorded; any other goes to the courier."""

    def __init__(
        self,
        courier: Handler,
        store: WindowStore,
        windows: Callable[[], list[MaintenanceWindow]],
        history: History,
        rules: Callable[[], RuleSet],
        *,
        clock: Clock = lambda: datetime.now(UTC),
        telemetry: Telemetry | None = None,
    ) -> None:
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        self._courier = courier
        self._store = store
        self._windows = windows
        self._history = history
        self._rules = rules
        self._clock = clock

    @property
    def courier(self) -> Handler:
        return self._courier

    def handle(
        self,
        envelope: AlertEnvelope,
        remaining_seconds: Remaining = None,
        *,
        windows: list[MaintenanceWindow] | None = None,
    ) -> dict[str, Any]:
        """`windows`: a fresh list instead of the cached one (the scheduler's window ends pass theirs)."""
        alert = envelope.alert
        window = window_holding(alert, self._windows() if windows is None else windows, self._clock(), self._rules())
        if window is None:
            return self._courier.handle(envelope, remaining_seconds)
        return self._hold(envelope, window)

    def handle_many(self, envelopes: Sequence[AlertEnvelope], remaining_seconds: Remaining = None) -> ManyOutcome:
        """One queued message's alerts: each judged alone by the windows (a held one is held and recorded as by
        `handle`); the others go to the courier together (`Courier.handle_many`)."""
        windows, now, rules = self._windows(), self._clock(), self._rules()
        passed: list[AlertEnvelope] = []
        held: list[dict[str, Any]] = []
        for envelope in envelopes:
            window = window_holding(envelope.alert, windows, now, rules)
            if window is None:
                passed.append(envelope)
            else:
                held.append(self._hold(envelope, window))
        outcome = self._courier.handle_many(passed, remaining_seconds) if passed else ManyOutcome()
        outcome.outcomes += held
        return outcome

    def _hold(self, envelope: AlertEnvelope, window: MaintenanceWindow) -> dict[str, Any]:
        alert = envelope.alert
        self._store.hold(window, envelope)  # before the history: a failed write is redelivered, not lost
        reasons = holding_reasons(window, alert)
        self._record(envelope, reasons)
        self._telemetry.count("AlertsHeld", source=alert.source)
        logger.info("held by a maintenance window", extra={"dedup_key": alert.dedup_key, "window": window.id})
        return {"dedup_key": alert.dedup_key, "reasons": reasons, "actions": [], "results": [], "held_by": window.id}

    def record_end(self, envelope: AlertEnvelope, window: MaintenanceWindow, note: str) -> None:
        self._record(envelope, [f"{window.describe()} ended (on_end: {window.on_end}): {note}"])

    def _record(self, envelope: AlertEnvelope, reasons: list[str]) -> None:
        record_without_action(self._history, envelope, reasons)


class WindowEntry(Protocol):
    def handle(
        self, envelope: AlertEnvelope, remaining_seconds: Remaining = None, *, windows: list[MaintenanceWindow] | None
    ) -> dict[str, Any]: ...


class WindowEnds:
    """The scheduler's part: for each ended window not yet settled, what it held goes through the gate once
    (`on_end`), and the held items are released. Idempotent: a repeated or concurrent run hands the same alert to
    the courier again, which recognises it (a repeat, or stale) and acts on nothing twice."""

    def __init__(
        self,
        gate: MaintenanceGate,
        store: WindowStore,
        *,
        settle_after: timedelta = timedelta(seconds=2 * WINDOW_CACHE_SECONDS),
        dead_letter: Callable[[AlertEnvelope, str], None] | None = None,
        entry: WindowEntry | None = None,
    ) -> None:
        """`entry`: dispatch's entry in front of `gate` (inhibition), through which what a window held is handed."""
        self._entry: WindowEntry = entry or gate
        self._gate = gate
        self._store = store
        self._settle_after = settle_after
        self._dead_letter = dead_letter

    def run(self, report: RunReport, remaining: Remaining = None) -> None:
        now = report.now
        windows = self._store.windows()
        for window in windows:
            if window.settled_at is not None or window.ends_at > now:
                continue
            if out_of_time(remaining):
                report.deferred += 1
                return
            if self._end(window, windows, report, remaining) and now >= window.ends_at + self._settle_after:
                self._store.settle(window, now)
                report.windows_settled.append(window.id)

    def _end(
        self, window: MaintenanceWindow, windows: list[MaintenanceWindow], report: RunReport, remaining: Remaining
    ) -> bool:
        """True when nothing of the window is left held."""
        held = self._store.held(window.id)
        by_alert: dict[tuple[str, str], list[HeldAlert]] = {}
        for item in held:
            by_alert.setdefault((item.envelope.alert.source, item.envelope.alert.dedup_key), []).append(item)
        handed = at_end(window, [item.envelope for item in held])
        handed_alerts = {(envelope.alert.source, envelope.alert.dedup_key) for envelope in handed}
        for alert_key, items in by_alert.items():
            if alert_key not in handed_alerts:  # on_end: drop
                self._gate.record_end(items[-1].envelope, window, "forgotten, nothing called")
                self._store.release(window.id, [item.key for item in items])
        left = False
        for envelope in handed:
            if out_of_time(remaining):
                report.deferred += 1
                return False
            alert_key = (envelope.alert.source, envelope.alert.dedup_key)
            self._gate.record_end(envelope, window, "its latest transition goes through the rules now")
            try:
                self._entry.handle(envelope, remaining, windows=windows)
            except PermanentFailure as failure:
                if self._dead_letter is None:
                    report.errors.append(f"{window.id}: {envelope.alert.dedup_key}: {failure}")
                    left = True
                    continue
                self._dead_letter(envelope, str(failure))
            except (ActionBusy, StaleState):  # another run is acting on it: it finishes the job
                report.busy.append(f"{window.id}:{envelope.alert.dedup_key}")
                left = True
                continue
            except ActionFailed as failure:  # transient: the next run tries again
                report.errors.append(f"{window.id}: {envelope.alert.dedup_key}: {failure.describe()}")
                left = True
                continue
            report.held_replayed.append(f"{window.id}:{envelope.alert.dedup_key}")
            self._store.release(window.id, [item.key for item in by_alert[alert_key]])
        return not left
