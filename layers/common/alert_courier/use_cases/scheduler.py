"""The scheduled checks: heartbeats that went silent (or came back), and escalation levels that came due while
nobody acknowledged the page.

Every side effect goes through the same `ActionRunner` as dispatch (ledger claim → incident.io → completion),
so a repeated or concurrent run performs each one once; states are saved with optimistic locking and re-decided
on a conflict. Time comes from an injectable clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_courier.use_cases.escalation_checks import EscalationChecks
from alert_courier.use_cases.heartbeat_checks import HeartbeatChecks
from alert_courier.use_cases.inhibition import InhibitionEnds
from alert_courier.use_cases.maintenance import WindowEnds
from alert_courier.use_cases.ports import Clock, Remaining, Telemetry
from alert_courier.use_cases.reconciliation import Reconciler
from alert_courier.use_cases.run_report import RunReport
from alert_courier.use_cases.telemetry import NoTelemetry


class Scheduler:
    def __init__(
        self,
        *,
        heartbeats: HeartbeatChecks,
        escalations: EscalationChecks,
        clock: Clock = lambda: datetime.now(UTC),
        telemetry: Telemetry | None = None,
        window_ends: WindowEnds | None = None,
        inhibition_ends: InhibitionEnds | None = None,
        reconciler: Reconciler | None = None,
        reconcile_every: timedelta = timedelta(minutes=5),
    ) -> None:
        self._inhibition_ends = inhibition_ends
        self._window_ends = window_ends
        self._reconciler = reconciler
        self._reconcile_every = reconcile_every
        self._last_reconcile: datetime | None = None
        self._heartbeats = heartbeats
        self._escalations = escalations
        self._clock = clock
        self._telemetry: Telemetry = telemetry or NoTelemetry()

    def run(self, remaining_seconds: Remaining = None) -> RunReport:
        report = RunReport(now=self._clock())
        self.check_heartbeats(report, remaining_seconds)
        self.escalate_due(report, remaining_seconds)
        if self._window_ends is not None:  # maintenance windows that ended: what they held is acted on once
            self._window_ends.run(report, remaining_seconds)
        if self._inhibition_ends is not None:  # targets held while a source fired: acted on once it stopped
            self._inhibition_ends.run(report, remaining_seconds)
        if self._reconciler is not None and self._reconcile_due(report.now):  # lowest priority: last
            self._last_reconcile = report.now
            self._reconciler.run(report, remaining_seconds)
        for name, values in (
            ("HeartbeatsMissed", report.missed),
            ("HeartbeatsRecovered", report.recovered),
            ("HeartbeatPingsForwarded", report.forwarded),
            ("ScheduledEscalations", report.escalated),
            ("EscalationsCancelled", report.cancelled),
            ("HeldAlertsReplayed", report.held_replayed),
            ("InhibitedAlertsReplayed", report.inhibited_replayed),
            ("SchedulerErrors", report.errors),
        ):
            if values:
                self._telemetry.count(name, len(values))
        return report

    def _reconcile_due(self, now: datetime) -> bool:
        """Every `reconcile_every` per container (a new container reconciles at once: a pass is idempotent)."""
        return self._last_reconcile is None or now - self._last_reconcile >= self._reconcile_every

    def check_heartbeats(self, report: RunReport, remaining: Remaining = None) -> None:
        self._heartbeats.run(report, remaining)

    def escalate_due(self, report: RunReport, remaining: Remaining = None) -> None:
        self._escalations.run(report, remaining)
