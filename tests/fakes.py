"""In-memory implementations of the use cases' ports (alert_courier.use_cases.ports), for tests with no moto and
no HTTP: the same contracts as the DynamoDB adapters (optimistic versions, claims with leases, timers written
with each save) and incident.io's tools run in-process by the local simulator's own tool code.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.domain.alert import AlertEnvelope
from alert_courier.domain.errors import ActionBusy, GroupTooLarge, StaleState
from alert_courier.domain.escalation_timers import Timer, timers_for
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.heartbeat_decisions import HeartbeatState
from alert_courier.domain.inhibition import InhibitEntry, SourceChange, SourceRecord, apply_source_change
from alert_courier.domain.maintenance import MaintenanceWindow
from alert_courier.domain.rules import RuleSet
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError, kind_for_status
from alert_courier.use_cases.courier import Courier
from alert_courier.use_cases.escalation_checks import EscalationChecks
from alert_courier.use_cases.heartbeat_checks import HeartbeatChecks
from alert_courier.use_cases.inhibition import HeldTarget, InhibitionEnds, InhibitionGate
from alert_courier.use_cases.maintenance import HeldAlert, MaintenanceGate, WindowEnds
from alert_courier.use_cases.ports import Claim, HeartbeatRecords, Remaining
from alert_courier.use_cases.runner import ActionRunner
from alert_courier.use_cases.scheduler import Scheduler
from alert_courier.use_cases.storm import StormGate, StormJoins
from alert_courier.use_cases.telemetry import RecordedTelemetry


class DrivenClock:
    """Time that moves only when a test moves it (the ledger's leases read it too)."""

    def __init__(self, start: datetime = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()


class InMemoryGroupStates:
    """Group states with optimistic versioning; each save also writes the timers of its pending levels and
    deletes those of levels it cleared, as the DynamoDB store does."""

    def __init__(self, *, max_firing: int | None = None) -> None:
        self.states: dict[str, GroupState] = {}
        self.timers: set[Timer] = set()
        self.saves = 0
        self.loads = 0
        self._max_firing = max_firing
        self._lock = threading.Lock()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def load(self, group_id: str) -> GroupState:
        with self._lock:
            self.loads += 1
            return self.states.get(group_id) or GroupState(group_id=group_id)

    def open_group_ids(self) -> list[str]:
        with self._lock:
            return sorted(
                key for key, state in self.states.items() if state.firing or state.incident_open or state.unfinished
            )

    def save(self, state: GroupState) -> GroupState:
        with self._lock:
            stored = self.states.get(state.group_id)
            if (stored.version if stored else 0) != state.version:
                raise StaleState(state.group_id)
            if self._max_firing is not None and len(state.firing) > self._max_firing:
                raise GroupTooLarge(state.group_id, len(state.firing), len(state.firing) * 50, self._max_firing * 50)
            saved = state.model_copy(update={"version": state.version + 1, "updated_at": self.clock()})
            self.timers -= set(timers_for(stored)) if stored else set()
            self.timers |= set(timers_for(saved))
            self.states[state.group_id] = saved
            self.saves += 1
            return saved

    def save_together(self, first: GroupState, second: GroupState) -> None:
        with self._lock:
            for state in (first, second):
                stored = self.states.get(state.group_id)
                if (stored.version if stored else 0) != state.version:
                    raise StaleState(state.group_id)
            for state in (first, second):
                saved = state.model_copy(update={"version": state.version + 1, "updated_at": self.clock()})
                self.timers |= set(timers_for(saved))  # cleared levels' timers stay, stale, as in DynamoDB
                self.states[state.group_id] = saved
                self.saves += 1


class InMemoryTimers:
    """The due-time index over an InMemoryGroupStates' timers (stale ones included, as in DynamoDB)."""

    def __init__(self, states: InMemoryGroupStates) -> None:
        self._states = states

    def due(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        due = sorted((t for t in self._states.timers if t.due_at <= now), key=lambda t: t.sk)
        return due[:limit]

    def delete(self, timer: Timer) -> None:
        self._states.timers.discard(timer)


@dataclass
class _LedgerEntry:
    status: str
    lease_until: float
    first_attempt_at: float
    attempts: int = 1
    ambiguous: bool = False
    result: dict[str, Any] | None = None


class InMemoryLedger:
    """Claims with leases, as the DynamoDB ledger: a live claim is busy, an expired one can be taken again."""

    def __init__(self, *, lease_seconds: float = 90.0, clock: Callable[[], float] = time.time) -> None:
        self.entries: dict[str, _LedgerEntry] = {}
        self._lease = lease_seconds
        self._clock = clock
        self._lock = threading.Lock()

    def claim(self, action_key: str) -> Claim:
        now = self._clock()
        with self._lock:
            entry = self.entries.get(action_key)
            if entry is not None and entry.status == "done":
                return Claim(action_key, done=True, result=copy.deepcopy(entry.result))
            if entry is not None and entry.lease_until >= now:
                raise ActionBusy(action_key)
            if entry is None:
                entry = self.entries[action_key] = _LedgerEntry("in_progress", 0, now, attempts=0)
            # A lease that ran out without a release: its worker died mid-action, perhaps after acting.
            entry.ambiguous = entry.ambiguous or entry.lease_until > 0
            entry.status, entry.lease_until, entry.attempts = "in_progress", now + self._lease, entry.attempts + 1
            return Claim(
                action_key, done=False, previously_ambiguous=entry.ambiguous, first_attempt_at=entry.first_attempt_at
            )

    def complete(self, action_key: str, result: dict[str, Any]) -> None:
        with self._lock:
            entry = self.entries[action_key]
            entry.status, entry.result = "done", copy.deepcopy(result)

    def release(self, action_key: str, *, ambiguous: bool) -> None:
        with self._lock:
            entry = self.entries[action_key]
            entry.lease_until = 0
            entry.ambiguous = entry.ambiguous or ambiguous


class InMemoryHistory:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, dict[str, Any]]] = []

    def record(self, source: str, dedup_key: str, entry: dict[str, Any]) -> None:
        self.entries.append((source, dedup_key, copy.deepcopy(entry)))

    def record_many(self, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.batches = getattr(self, "batches", 0) + 1
        for source, dedup_key, entry in entries:
            self.record(source, dedup_key, entry)

    def read(self, source: str, dedup_key: str) -> list[dict[str, Any]]:
        return [entry for s, key, entry in self.entries if (s, key) == (source, dedup_key)]


class InMemoryHeartbeats:
    def __init__(self) -> None:
        self.pings: dict[str, dict[str, datetime]] = {}
        self.states: dict[str, dict[str, HeartbeatState]] = {}

    def record_ping(self, name: str, instance: str, at: datetime, *, via: str) -> bool:
        last = self.pings.setdefault(name, {}).get(instance)
        if last is not None and last >= at:
            return False
        self.pings[name][instance] = at
        return True

    def load(self, name: str) -> HeartbeatRecords:
        return HeartbeatRecords(dict(self.pings.get(name, {})), dict(self.states.get(name, {})))

    def load_state(self, name: str, instance: str) -> HeartbeatState | None:
        return self.states.get(name, {}).get(instance)

    def save_state(self, state: HeartbeatState) -> HeartbeatState:
        stored = self.load_state(state.name, state.instance)
        if (stored.version if stored else 0) != state.version:
            raise StaleState(state.key)
        saved = state.model_copy(update={"version": state.version + 1, "updated_at": datetime.now(UTC)})
        self.states.setdefault(state.name, {})[state.instance] = saved
        return saved


class InMemoryWindows:
    """Maintenance windows and what they hold, as `aws.maintenance_store.MaintenanceStore` keeps them."""

    def __init__(self) -> None:
        self.by_id: dict[str, MaintenanceWindow] = {}
        self.holding: dict[str, dict[str, AlertEnvelope]] = {}
        self.reads = 0
        self._lock = threading.Lock()

    def windows(self) -> list[MaintenanceWindow]:
        with self._lock:
            self.reads += 1
            return sorted(self.by_id.values(), key=lambda window: (window.starts_at, window.id))

    def add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        with self._lock:
            self.by_id[window.id] = window
        return window

    def expire(self, window_id: str, now: datetime, by: str) -> MaintenanceWindow:
        with self._lock:
            self.by_id[window_id] = self.by_id[window_id].expired(now, by)
            return self.by_id[window_id]

    def hold(self, window: MaintenanceWindow, envelope: AlertEnvelope) -> None:
        with self._lock:
            self.holding.setdefault(window.id, {})[f"held#{envelope.alert.transition_id()}"] = envelope

    def held(self, window_id: str) -> list[HeldAlert]:
        with self._lock:
            return [HeldAlert(key, envelope) for key, envelope in self.holding.get(window_id, {}).items()]

    def release(self, window_id: str, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self.holding.get(window_id, {}).pop(key, None)

    def settle(self, window: MaintenanceWindow, now: datetime) -> None:
        with self._lock:
            if self.by_id.get(window.id) == window:
                self.by_id[window.id] = window.model_copy(update={"settled_at": now})


class InMemoryInhibition:
    """The inhibition index, as `aws.inhibition_store.InhibitionStore` keeps it."""

    def __init__(self) -> None:
        self.sources: dict[str, dict[str, SourceRecord]] = {}
        self.holding: dict[tuple[str, str], AlertEnvelope] = {}
        self.entries: dict[str, dict[str, InhibitEntry]] = {}  # source alert key → the entries it fired in
        self.reads = 0
        self._lock = threading.Lock()

    def firing_sources(self, entry_key: str) -> set[str]:
        with self._lock:
            self.reads += 1
            return {key for key, record in self.sources.get(entry_key, {}).items() if record.firing_started is not None}

    def record_source(self, change: SourceChange) -> None:
        with self._lock:
            if change.firing:
                self.entries.setdefault(change.alert_key, {})[change.entry.key] = change.entry
            records = self.sources.setdefault(change.entry.key, {})
            records[change.alert_key] = apply_source_change(records.get(change.alert_key, SourceRecord()), change)

    def entries_of(self, alert_key: str) -> list[InhibitEntry]:
        with self._lock:
            return list(self.entries.get(alert_key, {}).values())

    def hold(self, entry_key: str, envelope: AlertEnvelope) -> None:
        with self._lock:
            self.holding[(entry_key, f"{envelope.alert.source}:{envelope.alert.dedup_key}")] = envelope

    def held(self) -> list[HeldTarget]:
        with self._lock:
            return [HeldTarget(entry, alert, envelope) for (entry, alert), envelope in sorted(self.holding.items())]

    def release(self, held: HeldTarget) -> bool:
        with self._lock:
            if self.holding.get((held.entry_key, held.alert_key)) != held.envelope:
                return False
            del self.holding[(held.entry_key, held.alert_key)]
            return True

    def drop(self, entry_key: str, alert_key: str) -> None:
        with self._lock:
            self.holding.pop((entry_key, alert_key), None)


class InMemoryStorms:
    """Storm counters and memberships, as `aws.storm_store.StormStore` keeps them."""

    def __init__(self) -> None:
        self.windows: dict[tuple[str, str], set[str]] = {}
        self.members: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def count(self, rule: str, window: str, group_key: str, limit: int) -> int:
        with self._lock:
            groups = self.windows.setdefault((rule, window), set())
            if len(groups) <= limit or group_key in groups:
                groups.add(group_key)
            return min(len(groups), limit + 1)

    def member(self, rule: str, group_key: str) -> int | None:
        with self._lock:
            return self.members.get((rule, group_key))

    def join(self, rule: str, group_key: str, generation: int) -> None:
        with self._lock:
            self.members[(rule, group_key)] = generation


class Crash(BaseException):
    """The process died (not an Exception: nothing on the way up gets to release a claim or save a state)."""


@dataclass
class Scripted:
    """What the next call of a tool does instead of (or after) its work."""

    # "ok": as usual; "transient"/"permanent" (422): fails before acting; "lost": acts, the answer is lost;
    # "crash": acts, then the process dies
    outcome: str
    status: int | None = None


class InProcessIncidentIo:
    """incident.io's MCP tools run by the local simulator's own tool code and schemas, in this process."""

    def __init__(
        self,
        simulator: Any,
        *,
        drop_tools: Iterable[str] = (),
        drop_arguments: dict[str, list[str]] | None = None,
    ) -> None:
        from alert_courier_local.simulator.schemas import load_tool_schemas

        self.simulator = simulator
        dropped = set(drop_tools)
        self._schemas = {
            name: copy.deepcopy(entry["inputSchema"])
            for name, entry in load_tool_schemas().items()
            if name not in dropped
        }
        for name, arguments in (drop_arguments or {}).items():  # a server that does not offer these arguments
            for argument in arguments:
                self._schemas[name].get("properties", {}).pop(argument, None)

    def input_schemas(self) -> dict[str, dict[str, Any]]:
        return self._schemas

    def read_resource(self, uri: str, *, remaining_seconds: Remaining = None) -> dict[str, Any]:
        return dict(self.simulator.organisation_config())

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        retry_ambiguous: bool = False,
        remaining_seconds: Remaining = None,
    ) -> dict[str, Any]:
        from alert_courier_local.simulator.errors import IncidentIoError

        try:
            return dict(self.simulator.call_tool(name, arguments))
        except IncidentIoError as error:
            raise ToolCallError(
                kind_for_status(error.status), error.message, tool=name, status=error.status, code=error.code
            ) from None


class ScriptedTools:
    """Any incident-tools port with scripted faults: `script(tool, outcome, times)` makes the next calls of a
    tool fail before acting (transient, permanent), or after acting with the answer lost (as a timeout after the
    server acted would) or the process dying."""

    def __init__(self, inner: Any, simulator: Any) -> None:
        self.inner = inner
        self.simulator = simulator  # the organisation behind `inner`, to read and change its state directly
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._scripts: dict[str, list[Scripted]] = {}
        self._lock = threading.Lock()

    def script(self, tool: str, outcome: str, times: int = 1, *, status: int | None = None) -> None:
        self._scripts.setdefault(tool, []).extend(Scripted(outcome, status) for _ in range(times))

    def clear_scripts(self) -> None:
        self._scripts.clear()

    def input_schemas(self) -> dict[str, dict[str, Any]]:
        schemas: dict[str, dict[str, Any]] = self.inner.input_schemas()
        return schemas

    def read_resource(self, uri: str, *, remaining_seconds: Remaining = None) -> dict[str, Any]:
        document: dict[str, Any] = self.inner.read_resource(uri, remaining_seconds=remaining_seconds)
        return document

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        retry_ambiguous: bool = False,
        remaining_seconds: Remaining = None,
    ) -> dict[str, Any]:
        with self._lock:
            self.calls.append((name, copy.deepcopy(arguments)))
            scripted = self._scripts.get(name, []).pop(0) if self._scripts.get(name) else None
        if scripted is not None and scripted.outcome == "transient":
            raise ToolCallError(FailureKind.TRANSIENT, "scripted: service unavailable", tool=name, status=503)
        if scripted is not None and scripted.outcome == "permanent":
            status = scripted.status or 422
            raise ToolCallError(kind_for_status(status), "scripted: refused", tool=name, status=status)
        result: dict[str, Any] = self.inner.call_tool(
            name, arguments, retry_ambiguous=retry_ambiguous, remaining_seconds=remaining_seconds
        )
        if scripted is not None and scripted.outcome == "lost":
            raise ToolCallError(FailureKind.AMBIGUOUS, "scripted: no answer in time (the server acted)", tool=name)
        if scripted is not None and scripted.outcome == "crash":
            raise Crash(name)
        return result

    def tool_calls(self, name: str) -> list[dict[str, Any]]:
        return [arguments for tool, arguments in self.calls if tool == name]


class SimulatedIncidentTools(ScriptedTools):
    """incident.io's tools in-process (the simulator's code, no HTTP), with scripted faults."""

    def __init__(
        self,
        *,
        drop_tools: Iterable[str] = (),
        drop_arguments: dict[str, list[str]] | None = None,
        **simulator_options: Any,
    ) -> None:
        from alert_courier_local.simulator.simulator import Simulator

        simulator = Simulator(**simulator_options)
        super().__init__(
            InProcessIncidentIo(simulator, drop_tools=drop_tools, drop_arguments=drop_arguments), simulator
        )


@dataclass
class RecordedAlertEvents:
    """incident.io's REST alert-event and heartbeat endpoints, kept in memory."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    heartbeat_pings: list[str] = field(default_factory=list)

    def send_alert_event(self, config_id: str, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append((config_id, copy.deepcopy(event)))
        return {"deduplication_key": event.get("deduplication_key"), "status": "success"}

    def ping_heartbeat(self, config_id: str) -> None:
        self.heartbeat_pings.append(config_id)


@dataclass
class World:
    """Dispatch and the scheduler on in-memory ports, wired as `alert_courier.wiring` wires the real ones."""

    rules: RuleSet
    clock: DrivenClock = field(default_factory=DrivenClock)
    tools: ScriptedTools = field(default_factory=SimulatedIncidentTools)
    states: Any = field(default_factory=InMemoryGroupStates)
    history: Any = field(default_factory=InMemoryHistory)
    heartbeats: Any = field(default_factory=InMemoryHeartbeats)
    alert_events: RecordedAlertEvents = field(default_factory=RecordedAlertEvents)
    telemetry: RecordedTelemetry = field(default_factory=RecordedTelemetry)
    ledger: Any = None
    timers: Any = None
    windows: Any = field(default_factory=InMemoryWindows)
    inhibition: Any = field(default_factory=InMemoryInhibition)
    storms: Any = field(default_factory=InMemoryStorms)
    budget: Any = None  # a call budget (tests/budget_fakes.py): the tools then sit behind the MCP client's gate

    def __post_init__(self) -> None:
        from alert_courier.incident_io.executor import IncidentIoExecutor

        if self.ledger is None:
            self.ledger = InMemoryLedger(clock=self.clock.epoch)
        if self.tools.simulator is not None:
            self.tools.simulator.clock = self.clock  # incident.io's creation times on the world's clock
        if isinstance(self.states, InMemoryGroupStates):
            self.states.clock = self.clock  # `updated_at` on the world's clock, as the store's is on AWS's
        if self.timers is None:
            self.timers = InMemoryTimers(self.states)
        tools: Any = self.tools
        if self.budget is not None:
            from tests.budget_fakes import BudgetedTools

            tools = self.budgeted_tools = BudgetedTools(self.tools, self.budget)
        executor = IncidentIoExecutor(tools, self.alert_events, self.telemetry)
        self.runner = ActionRunner(self.ledger, executor, self.telemetry)
        self.courier = Courier(self.states, self.runner, self.history, lambda: self.rules, clock=self.clock)
        self.storm_gate = StormGate(
            self.courier, self.storms, self.states, lambda: self.rules, clock=self.clock, telemetry=self.telemetry
        )
        # Dispatch's entry as wired: the storm gate and courier behind the maintenance windows (read fresh: no cache).
        self.gate = MaintenanceGate(
            self.storm_gate,
            self.windows,
            self.windows.windows,
            self.history,
            lambda: self.rules,
            clock=self.clock,
            telemetry=self.telemetry,
        )
        # Dispatch's outermost entry as wired: inhibition in front of the maintenance gate.
        self.entry = InhibitionGate(
            self.gate, self.inhibition, self.history, lambda: self.rules, clock=self.clock, telemetry=self.telemetry
        )
        self.window_ends = WindowEnds(self.gate, self.windows, settle_after=timedelta(minutes=1), entry=self.entry)
        self.inhibition_ends = InhibitionEnds(self.entry, self.inhibition)
        self.scheduler = Scheduler(
            heartbeats=HeartbeatChecks(
                runner=self.runner,
                heartbeats=self.heartbeats,
                history=self.history,
                rules=lambda: self.rules,
                forwarder=self.alert_events,
            ),
            escalations=EscalationChecks(
                runner=self.runner,
                groups=self.states,
                timers=self.timers,
                history=self.history,
                storm_joins=StormJoins(self.storms, self.states, lambda: self.rules, telemetry=self.telemetry),
            ),
            clock=self.clock,
            telemetry=self.telemetry,
            window_ends=self.window_ends,
            inhibition_ends=self.inhibition_ends,
        )

    def reconciler(self, truths: list[Any] | None = None, incidents: Any = None, requeue: Any = None) -> Any:
        """The reconcile pass on this world's courier (the scheduler's, as `wiring` wires it)."""
        from alert_courier.use_cases.reconciliation import Reconciler

        return Reconciler(
            courier=self.courier,
            states=self.states,
            open_groups=self.states,
            history=self.history,
            rules=lambda: self.rules,
            truths=truths,
            incidents=incidents,
            clock=self.clock,
            telemetry=self.telemetry,
            requeue=requeue,
            sources=self.entry.hear,
        )

    def incidents(self) -> list[dict[str, Any]]:
        return [record.incident for record in self.simulator_state().incidents.values()]

    def simulator_state(self) -> Any:
        return self.tools.simulator.state
