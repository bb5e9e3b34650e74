"""The scheduled checks: heartbeats that went silent (or came back), and escalation levels that came due while
nobody acknowledged the page.

Every side effect goes through the dispatch path's `Courier` (action ledger claim → MCP tool → completion), so a
repeated or concurrent run performs each one once; states are saved with optimistic locking and re-decided on a
conflict. Time comes from an injectable clock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from pydantic import Field

from alert_courier.aws.dynamodb_stores import (
    ActionBusy,
    DecisionHistory,
    EscalationTimers,
    GroupStateStore,
    HeartbeatStore,
    StaleState,
)
from alert_courier.domain.actions import Action
from alert_courier.domain.escalation_timers import (
    Timer,
    apply_escalations,
    decide_escalations,
    needs_page_check,
    sortable,
)
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.heartbeat_decisions import (
    HEARTBEAT_SOURCE,
    HeartbeatState,
    apply_heartbeat_results,
    decide_heartbeat,
    heartbeat_key,
    instances_to_check,
)
from alert_courier.domain.rules import HeartbeatSpec, RuleSet
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError
from alert_courier.incident_io.tool_table import TOOLS, UnknownName, escalation_from_result
from alert_courier.settings import IncidentIoSettings
from alert_courier.use_cases.courier import Courier, IncidentTools, Remaining
from alert_courier.use_cases.telemetry import NoTelemetry, Telemetry

logger = logging.getLogger("alert_courier")
SAVE_ATTEMPTS = 5
MIN_SECONDS_LEFT = 5.0  # don't start on another heartbeat or group with less time than this left
LIST_PAGES = 5
HISTORY_KEYS_PER_GROUP = 10


class SchedulerSettings(IncidentIoSettings):
    max_timers_per_run: int = Field(default=100, gt=0, description="escalation timers handled per invocation")


@lru_cache(maxsize=1)
def scheduler_settings() -> SchedulerSettings:
    return SchedulerSettings.from_environment()


class HeartbeatForwarder(Protocol):
    """The port to incident.io's heartbeat alert sources (the real one is `alert_events.IncidentIoRest`)."""

    def ping_heartbeat(self, config_id: str) -> None: ...


@dataclass
class RunReport:
    """What one scheduled run did; returned by the Lambda and logged."""

    now: datetime
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    heartbeats_checked: int = 0
    missed: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    timers_due: int = 0
    escalated: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # groups whose pending levels an acknowledgement ended
    stale_timers: int = 0
    busy: list[str] = field(default_factory=list)  # another run holds the claim: it will finish the job
    errors: list[str] = field(default_factory=list)
    deferred: int = 0  # left for the next run (out of time)

    def summary(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "run_id": self.run_id,
            "heartbeats_checked": self.heartbeats_checked,
            "missed": self.missed,
            "recovered": self.recovered,
            "forwarded": self.forwarded,
            "timers_due": self.timers_due,
            "escalated": self.escalated,
            "cancelled": self.cancelled,
            "stale_timers": self.stale_timers,
            "busy": self.busy,
            "errors": self.errors,
            "deferred": self.deferred,
        }

    @property
    def acted(self) -> bool:
        return bool(self.missed or self.recovered or self.escalated or self.cancelled or self.errors)


class Scheduler:
    def __init__(
        self,
        *,
        courier: Courier,
        tools: IncidentTools,
        groups: GroupStateStore,
        timers: EscalationTimers,
        heartbeats: HeartbeatStore,
        history: DecisionHistory,
        rules: Callable[[], RuleSet],
        forwarder: HeartbeatForwarder | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        telemetry: Telemetry | None = None,
        max_timers: int = 100,
    ) -> None:
        self._courier = courier
        self._tools = tools
        self._groups = groups
        self._timers = timers
        self._heartbeats = heartbeats
        self._history = history
        self._rules = rules
        self._forwarder = forwarder
        self._clock = clock
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        self._max_timers = max_timers

    def run(self, remaining_seconds: Remaining = None) -> RunReport:
        report = RunReport(now=self._clock())
        self.check_heartbeats(report, remaining_seconds)
        self.escalate_due(report, remaining_seconds)
        for name, values in (
            ("HeartbeatsMissed", report.missed),
            ("HeartbeatsRecovered", report.recovered),
            ("HeartbeatPingsForwarded", report.forwarded),
            ("ScheduledEscalations", report.escalated),
            ("EscalationsCancelled", report.cancelled),
            ("SchedulerErrors", report.errors),
        ):
            if values:
                self._telemetry.count(name, len(values))
        return report

    # ---- heartbeats ------------------------------------------------------------------------------

    def check_heartbeats(self, report: RunReport, remaining: Remaining = None) -> None:
        rules = self._rules()
        for spec in rules.heartbeats:
            records = self._heartbeats.load(spec.name)
            for instance, last_seen in instances_to_check(spec, records.pings, records.states).items():
                key = heartbeat_key(spec.name, instance)
                if _out_of_time(remaining):
                    report.deferred += 1
                    continue
                report.heartbeats_checked += 1
                try:
                    state = records.states.get(instance)
                    self._check_heartbeat(spec, rules, instance, last_seen, state, report, remaining)
                except ActionBusy:
                    report.busy.append(key)
                except (ToolCallError, UnknownName, StaleState) as error:
                    described = error.describe() if isinstance(error, ToolCallError) else str(error)
                    report.errors.append(f"heartbeat {key}: {described}")
                    logger.error("heartbeat check failed", extra={"heartbeat": key, "error": described})

    def _check_heartbeat(
        self,
        spec: HeartbeatSpec,
        rules: RuleSet,
        instance: str,
        last_seen: datetime | None,
        state: HeartbeatState | None,
        report: RunReport,
        remaining: Remaining,
    ) -> None:
        now = report.now
        for _ in range(SAVE_ATTEMPTS):
            decision = decide_heartbeat(spec, rules, instance, last_seen, state, now)
            before = state or HeartbeatState(name=spec.name, instance=instance)
            anchor = GroupState(group_id=before.state_id, incident_id=before.incident_id)
            results, error = self._perform_all(decision.actions, anchor, remaining)
            if _performed_here(results):  # counted by the run that acted, whichever run's save wins
                (report.missed if decision.next_state.missed else report.recovered).append(before.key)
            next_state = apply_heartbeat_results(decision.next_state, decision.actions, results)
            if error is not None:
                self._record(HEARTBEAT_SOURCE, [before.key], report, decision.reasons, decision.actions, results, error)
                raise error
            forwarded = False
            if decision.forward is not None and self._forwarder is not None:
                try:
                    self._forwarder.ping_heartbeat(decision.forward.alert_source_config_id)
                    next_state = next_state.model_copy(update={"forwarded_through": decision.forward.seen})
                    forwarded = True
                except Exception as failure:  # best effort: relayed on the next run instead
                    described = failure.describe() if isinstance(failure, ToolCallError) else repr(failure)[:200]
                    report.errors.append(f"heartbeat {before.key}: forwarding failed: {described}")
                    logger.warning("heartbeat not forwarded", extra={"heartbeat": before.key, "error": described})
            if next_state != before or state is None:
                try:
                    self._heartbeats.save_state(next_state)
                except StaleState:
                    state = self._heartbeats.load_state(spec.name, instance)  # another run moved it: decide again
                    continue
            if forwarded:
                report.forwarded.append(before.key)
            if decision.actions:
                self._record(HEARTBEAT_SOURCE, [before.key], report, decision.reasons, decision.actions, results, None)
                logger.info("heartbeat", extra={"heartbeat": before.key, "reasons": decision.reasons})
            return
        raise StaleState(heartbeat_key(spec.name, instance))

    # ---- escalations -----------------------------------------------------------------------------

    def escalate_due(self, report: RunReport, remaining: Remaining = None) -> None:
        timers = self._timers.due(report.now, limit=self._max_timers)
        report.timers_due = len(timers)
        by_group: dict[str, list[Timer]] = {}
        for timer in timers:
            by_group.setdefault(timer.state_id, []).append(timer)
        for state_id, group_timers in by_group.items():
            if _out_of_time(remaining):
                report.deferred += len(group_timers)
                continue
            try:
                self._escalate_group(state_id, group_timers, report, remaining)
            except ActionBusy:
                report.busy.append(state_id)
            except (ToolCallError, UnknownName, StaleState) as error:
                described = error.describe() if isinstance(error, ToolCallError) else str(error)
                report.errors.append(f"group {state_id}: {described}")
                logger.error("escalation check failed", extra={"group_id": state_id, "error": described})

    def _escalate_group(self, state_id: str, timers: list[Timer], report: RunReport, remaining: Remaining) -> None:
        now = report.now
        for _ in range(SAVE_ATTEMPTS):
            state = self._groups.load(state_id)
            live = {(state.generation, p.level, sortable(p.due_at)) for p in state.pending_escalations}
            for timer in timers:
                if (timer.generation, timer.level, sortable(timer.due_at)) not in live:
                    self._timers.delete(timer)  # cleared, already done, or left behind by a save that lost
                    report.stale_timers += 1
            timers = [t for t in timers if (t.generation, t.level, sortable(t.due_at)) in live]
            statuses = self._page_statuses(state, remaining) if needs_page_check(state, now) else {}
            decision = decide_escalations(state, now, statuses)
            results, error = self._perform_all(decision.actions, state, remaining)
            performed = decision.actions[: len(results)]
            report.escalated += [
                f"{state.group_key or state_id} level {action.level}"
                for action, result in zip(performed, results, strict=False)
                if not result.get("remembered")  # counted by the run that paged, whichever run's save wins
            ]
            next_state = apply_escalations(decision.next_state, performed, results)
            if next_state != state:
                try:
                    self._groups.save(next_state)  # also deletes the timers of the levels it clears
                except StaleState:
                    if error is not None:
                        raise error from None
                    continue  # dispatch changed the group meanwhile: decide again; done pages are remembered
            keys = sorted(state.firing)[:HISTORY_KEYS_PER_GROUP] or [state.group_key or state_id]
            if decision.actions or next_state != state:
                self._record(
                    state.source or "scheduler", keys, report, decision.reasons, decision.actions, results, error
                )
            if error is not None:
                raise error
            if state.pending_escalations and not next_state.pending_escalations and not decision.actions:
                report.cancelled.append(state.group_key or state_id)
            if decision.actions or next_state != state:
                logger.info("escalation check", extra={"group_id": state_id, "reasons": decision.reasons})
            return
        raise StaleState(state_id)

    def _page_statuses(self, state: GroupState, remaining: Remaining) -> dict[str, str]:
        """What incident.io says about each page this episode sent (escalation_show, else escalation_list)."""
        if not state.escalation_ids:
            return {}
        schemas = self._tools.input_schemas()
        statuses: dict[str, str] = {}
        show = TOOLS["show_escalation"]
        if show in schemas:
            for page_id in state.escalation_ids:
                try:
                    result = self._tools.call_tool(
                        show, {"id": page_id}, retry_ambiguous=True, remaining_seconds=remaining
                    )
                except ToolCallError as error:
                    if error.kind is FailureKind.PERMANENT and error.status == 404:
                        continue  # gone (or not visible to this key): it acknowledges nothing
                    raise
                statuses[page_id] = str(escalation_from_result(result).get("status") or "")
            return statuses
        listing = TOOLS["find_escalations"]
        accepted = (schemas.get(listing) or {}).get("properties") or {}
        arguments: dict[str, Any] = {"page_size": 50} if "page_size" in accepted else {}
        if "created_after" in accepted and state.opened_at is not None:
            arguments["created_after"] = (state.opened_at - timedelta(minutes=5)).isoformat()
        wanted = set(state.escalation_ids)
        for _ in range(LIST_PAGES):
            page = self._tools.call_tool(listing, arguments, retry_ambiguous=True, remaining_seconds=remaining)
            for escalation in page.get("escalations", []):
                if escalation.get("id") in wanted:
                    statuses[str(escalation["id"])] = str(escalation.get("status") or "")
            after = (page.get("pagination_meta") or {}).get("after")
            if not after or wanted <= set(statuses) or "after" not in accepted:
                break
            arguments["after"] = after
        return statuses

    # ---- shared -------------------------------------------------------------------------------------

    def _perform_all(
        self, actions: Sequence[Action], state: GroupState, remaining: Remaining
    ) -> tuple[list[dict[str, Any]], ToolCallError | UnknownName | None]:
        """Performs each action once through the courier's own path (ledger claim, tool call, completion), so
        the scheduler and dispatch share one memory of what was done; stops at the first failure and returns it.
        """
        results: list[dict[str, Any]] = []
        for action in actions:
            try:
                results.append(self._courier.perform(action, state, results, remaining))
            except (ToolCallError, UnknownName) as error:
                return results, error
        self._courier.count_outcome(list(actions), results)
        return results, None

    def _record(
        self,
        source: str,
        keys: list[str],
        report: RunReport,
        reasons: list[str],
        actions: Sequence[Action],
        results: list[dict[str, Any]],
        error: ToolCallError | UnknownName | None,
    ) -> None:
        described = None if error is None else error.describe() if isinstance(error, ToolCallError) else str(error)
        entry = {
            "transition_id": f"scheduled-{report.run_id}",
            "correlation_id": report.run_id,
            "status": "scheduled",
            "title": "scheduled check",
            "rules": [],
            "reasons": reasons,
            "actions": [action.model_dump(mode="json") for action in actions],
            "results": results,
            "error": described,
        }
        for key in keys:
            self._history.record(source, key, entry)


def _performed_here(results: list[dict[str, Any]]) -> bool:
    return any(not result.get("remembered") for result in results)


def _out_of_time(remaining: Remaining) -> bool:
    return remaining is not None and remaining() < MIN_SECONDS_LEFT
