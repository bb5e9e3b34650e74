"""The ports the use cases depend on: what they need from storage, incident.io and telemetry, as Protocols.

Real adapters live in `alert_courier.aws` (DynamoDB) and `alert_courier.incident_io` (MCP, REST); the
use-case tests use in-memory fakes (tests/fakes.py). Adapters raise the domain's errors (`domain.errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from alert_courier.domain.actions import Action
from alert_courier.domain.call_budget import BucketLimit, Priority
from alert_courier.domain.escalation_timers import Timer
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.heartbeat_decisions import HeartbeatState

Clock = Callable[[], datetime]
Remaining = Callable[[], float] | None  # seconds left in this invocation, when known


class GroupStates(Protocol):
    """One record per alert group, saved with optimistic versioning (`StaleState` when someone saved first)."""

    def load(self, group_id: str) -> GroupState: ...

    def save(self, state: GroupState) -> GroupState: ...


class CallBudget(Protocol):
    """incident.io's request buckets, shared by every container (`domain.call_budget`)."""

    def take(self, bucket: BucketLimit, priority: Priority) -> int:
        """Admits one request (0) or says how many milliseconds it must wait; a waiting request took nothing."""
        ...

    def pause(self, bucket: BucketLimit, retry_after_ms: int) -> None:
        """incident.io answered 429: nobody sends on this bucket until retry_after_ms has passed."""
        ...


@dataclass(frozen=True)
class Claim:
    action_key: str
    done: bool
    result: dict[str, Any] | None = None
    previously_ambiguous: bool = False  # an earlier attempt may have reached the server: re-check first
    first_attempt_at: float = 0.0


class Ledger(Protocol):
    """Claims a side effect before it is performed, so redeliveries and concurrent workers act once.

    `claim` raises `ActionBusy` while another worker's lease on the action is live.
    """

    def claim(self, action_key: str) -> Claim: ...

    def complete(self, action_key: str, result: dict[str, Any]) -> None: ...

    def release(self, action_key: str, *, ambiguous: bool) -> None: ...


class History(Protocol):
    """One record per decision: what arrived, why, which calls, their results."""

    def record(self, source: str, dedup_key: str, entry: dict[str, Any]) -> None: ...

    def record_many(self, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
        """(source, dedup_key, entry) each, in one batch write where the store has one."""
        ...

    def read(self, source: str, dedup_key: str) -> list[dict[str, Any]]: ...


class Timers(Protocol):
    """Pending escalation levels indexed by due time."""

    def due(self, now: datetime, *, limit: int = 100) -> list[Timer]: ...

    def delete(self, timer: Timer) -> None: ...


@dataclass(frozen=True)
class HeartbeatRecords:
    """Everything stored for one heartbeat: each instance's last ping and the scheduler's state of it."""

    pings: dict[str, datetime]
    states: dict[str, HeartbeatState]


class Heartbeats(Protocol):
    def record_ping(self, name: str, instance: str, at: datetime, *, via: str) -> bool: ...

    def load(self, name: str) -> HeartbeatRecords: ...

    def load_state(self, name: str, instance: str) -> HeartbeatState | None: ...

    def save_state(self, state: HeartbeatState) -> HeartbeatState: ...


class IncidentTools(Protocol):
    """incident.io's MCP tools (the real one is `incident_io.mcp_client.IncidentIoMcp`)."""

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


class AlertEventSender(Protocol):
    """incident.io's REST alert-event endpoint (the real one is `incident_io.alert_events.IncidentIoRest`)."""

    def send_alert_event(self, config_id: str, event: dict[str, Any]) -> dict[str, Any]: ...


class HeartbeatForwarder(Protocol):
    """incident.io's heartbeat alert sources (the real one is `incident_io.alert_events.IncidentIoRest`)."""

    def ping_heartbeat(self, config_id: str) -> None: ...


class ActionExecutor(Protocol):
    """Performs one action against incident.io, including the re-checks that keep a retried action single.

    Raises `incident_io.tool_errors.ToolCallError`-like failures described by `FailedAction`.
    """

    def execute(
        self, action: Action, claim: Claim, state: GroupState, earlier: Sequence[dict[str, Any]], remaining: Remaining
    ) -> dict[str, Any]: ...

    def page_statuses(self, state: GroupState, remaining: Remaining) -> dict[str, str]: ...


class Telemetry(Protocol):
    def count(self, name: str, value: float = 1, **dimensions: str) -> None: ...

    def timing(self, name: str, milliseconds: float, **dimensions: str) -> None: ...
