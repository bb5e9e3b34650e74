"""Pure heartbeat decisions: given a heartbeat's spec, its last ping, what we remember of it and `now`, what happens.

No AWS, no MCP: the scheduler loads the records, calls `decide_heartbeat`, performs the actions once through the
action ledger and saves the next state with optimistic locking.

Interval heartbeats are missed once `last ping + interval + grace` has passed. Window heartbeats are missed when
no ping arrived in the window of the latest deadline whose grace has passed: from `window` before the deadline
(default: from the previous deadline) on. A ping that comes late still ends the episode ("pings resumed").
A heartbeat that has never pinged is watched from the first time the scheduler sees it (so a cron job that never
runs, or pings the wrong name, is noticed too); a per-instance heartbeat learns its instances from their pings
and also watches the instances its spec declares, so an instance that never pinged at all is missed as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from alert_courier.domain.actions import Action, OpenIncident, SendAlertEvent, opened_incident_fields
from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.group_state import state_id_for
from alert_courier.domain.incident_specs import open_incident_from_spec, resolve_incident_from_spec
from alert_courier.domain.rules import DailyDeadlines, HeartbeatSpec, RuleSet
from alert_courier.domain.templates import render

HEARTBEAT_SOURCE = "heartbeat"


class HeartbeatState(BaseModel):
    """What the scheduler remembers about one heartbeat instance between runs (one record each)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    instance: str = ""
    version: int = 0  # optimistic lock, as for alert groups
    generation: int = 0  # how many missed episodes so far
    watching_since: datetime | None = None
    missed: bool = False  # an episode is open: the heartbeat is overdue and we have said so
    missed_at: datetime | None = None
    recovered_at: datetime | None = None
    incident_id: str | None = None
    incident_reference: str | None = None
    incident_open: bool = False
    forwarded_through: datetime | None = None  # the last ping relayed to incident.io's heartbeat source
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        return heartbeat_key(self.name, self.instance)

    @property
    def state_id(self) -> str:
        return state_id_for(HEARTBEAT_SOURCE, self.key)


def heartbeat_key(name: str, instance: str) -> str:
    """`name` or `name/instance`: heartbeat names have no '/', so the key is unambiguous."""
    return f"{name}/{instance}" if instance else name


@dataclass(frozen=True)
class Health:
    healthy: bool
    due_at: datetime  # when a ping was (or is) due at the latest
    reason: str
    opens_at: datetime | None = None  # window heartbeats: when the judged window opened


@dataclass(frozen=True)
class ForwardPing:
    """Relay a ping to an incident.io heartbeat alert source (REST, the source's own token)."""

    alert_source_config_id: str
    name: str
    instance: str
    seen: datetime


@dataclass(frozen=True)
class HeartbeatDecision:
    actions: list[Action]
    next_state: HeartbeatState
    reasons: list[str] = field(default_factory=list)
    forward: ForwardPing | None = None
    health: Health | None = None


# ---- when is a heartbeat due ---------------------------------------------------------------------


def latest_deadline(deadlines: DailyDeadlines, moment: datetime) -> datetime:
    """The latest deadline at or before `moment`."""
    moment = moment.astimezone(UTC)
    for days_back in range(8):
        day = (moment - timedelta(days=days_back)).date()
        if (day.weekday() + 1) % 7 not in deadlines.weekdays:  # cron counts Sunday as 0
            continue
        for hour, minute in sorted(deadlines.times, reverse=True):
            candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
            if candidate <= moment:
                return candidate
    raise ValueError("deadlines without any weekday")  # the rules model never allows this


def previous_deadline(deadlines: DailyDeadlines, deadline: datetime) -> datetime:
    return latest_deadline(deadlines, deadline - timedelta(microseconds=1))


def evaluate(spec: HeartbeatSpec, last_seen: datetime | None, watching_since: datetime | None, now: datetime) -> Health:
    """Whether the heartbeat is healthy at `now`. Needs a last ping or the moment watching started."""
    seen = f"last ping {_iso(last_seen)}" if last_seen else f"no ping since watching began at {_iso(watching_since)}"
    if spec.kind == "interval":
        assert spec.interval is not None
        base = last_seen or watching_since
        assert base is not None
        due = base + spec.interval + spec.grace
        if now > due:
            expected = f"a ping was due every {_span(spec.interval)}{_grace(spec)}"
            return Health(False, due, f"{seen}; {expected} by {_iso(due)}")
        return Health(True, due, f"{seen}; next ping due by {_iso(due)}")
    deadlines = spec.deadlines()
    deadline = latest_deadline(deadlines, now - spec.grace)
    opens = deadline - spec.window if spec.window else previous_deadline(deadlines, deadline)
    due = deadline + spec.grace
    window = f"the window {_iso(opens)} → {_iso(deadline)}{_grace(spec)}"
    if last_seen is not None:
        if last_seen > opens:
            return Health(True, due, f"{seen}: inside or after {window}", opens)
        return Health(False, due, f"{seen}: no ping in {window}", opens)
    assert watching_since is not None
    if watching_since > opens:
        return Health(True, due, f"{seen}, after {window} opened: judged from the next deadline on", opens)
    return Health(False, due, f"{seen}: no ping in {window}", opens)


# ---- what to do ----------------------------------------------------------------------------------


def instances_to_check(
    spec: HeartbeatSpec, pings: dict[str, datetime], states: dict[str, HeartbeatState]
) -> dict[str, datetime | None]:
    """Instance → last ping (None: never pinged). Without `per_label` every ping counts for the one instance ''.

    A per-instance heartbeat checks the instances that pinged, those already watched and those its spec declares.
    """
    if spec.per_label is None:
        return {"": max(pings.values(), default=None)}
    instances = set(pings) | set(states) | set(spec.instances)
    return {instance: pings.get(instance) for instance in sorted(instances)}


def decide_heartbeat(
    spec: HeartbeatSpec,
    rules: RuleSet,
    instance: str,
    last_seen: datetime | None,
    state: HeartbeatState | None,
    now: datetime,
) -> HeartbeatDecision:
    state = state or HeartbeatState(name=spec.name, instance=instance)
    label = heartbeat_key(spec.name, instance)
    forward = None
    if spec.forward_to and last_seen and (state.forwarded_through is None or last_seen > state.forwarded_through):
        forward = ForwardPing(spec.forward_to, spec.name, instance, last_seen)
    if last_seen is None and state.watching_since is None:
        watching = state.model_copy(update={"watching_since": now})
        return HeartbeatDecision([], watching, [f"{label}: never pinged; watching it from {_iso(now)}"], forward)
    health = evaluate(spec, last_seen, state.watching_since, now)
    reasons = [f"{label}: {health.reason}"]
    if not health.healthy and not state.missed:
        generation = state.generation + 1
        next_state = state.model_copy(
            update={
                "generation": generation,
                "missed": True,
                "missed_at": health.due_at,
                "incident_id": None,
                "incident_reference": None,
                "incident_open": False,
            }
        )
        alert = heartbeat_alert(spec, instance, AlertStatus.FIRING, health, last_seen, now)
        actions = _missed_actions(spec, rules, next_state, alert)
        return HeartbeatDecision(actions, next_state, [*reasons, f"missed: episode #{generation}"], forward, health)
    if health.healthy and state.missed:
        alert = heartbeat_alert(spec, instance, AlertStatus.RESOLVED, health, last_seen, now)
        next_state = state.model_copy(update={"missed": False, "incident_open": False, "recovered_at": now})
        actions = _recovered_actions(spec, state, alert)
        return HeartbeatDecision(
            actions, next_state, [*reasons, f"pings resumed: episode #{state.generation} ends"], forward, health
        )
    note = "still missed: already reported" if state.missed else "healthy"
    return HeartbeatDecision([], state, [*reasons, note], forward, health)


def apply_heartbeat_results(
    state: HeartbeatState, actions: list[Action], results: list[dict[str, object]]
) -> HeartbeatState:
    for action, result in zip(actions, results, strict=False):
        if isinstance(action, OpenIncident):
            state = state.model_copy(update=opened_incident_fields(dict(result)))
    return state


def heartbeat_alert(
    spec: HeartbeatSpec,
    instance: str,
    status: AlertStatus,
    health: Health,
    last_seen: datetime | None,
    now: datetime,
) -> Alert:
    """The heartbeat as an alert, so the rules' templates (`{{ alert.title }}`, `{{ labels.instance }}`) work."""
    key = heartbeat_key(spec.name, instance)
    who = f" for {spec.per_label} {instance}" if spec.per_label else ""
    if status is AlertStatus.FIRING:
        title = f"Heartbeat {spec.name} missed{who}"
        description = f"No ping from {spec.name}{who} in time: {health.reason}."
    else:
        title = f"Heartbeat {spec.name} is pinging again{who}"
        description = f"Pings resumed: last ping {_iso(last_seen)}."
    labels = {"heartbeat": spec.name}
    if spec.per_label:
        labels[spec.per_label] = instance
    return Alert(
        source=HEARTBEAT_SOURCE,
        dedup_key=key,
        group_key=key,
        status=status,
        severity=spec.severity,
        title=title,
        description=description,
        labels=labels,
        annotations={"last_seen": _iso(last_seen) if last_seen else "never", "due_at": _iso(health.due_at)},
        received_at=now,
    )


def _missed_actions(spec: HeartbeatSpec, rules: RuleSet, state: HeartbeatState, alert: Alert) -> list[Action]:
    actions: list[Action] = []
    incident = spec.on_missed.open_incident
    if incident is not None:
        actions.append(
            open_incident_from_spec(
                incident,
                alert,
                rules,
                group_id=state.state_id,
                generation=state.generation,
                reason=f"heartbeat {state.key} missed: open incident (episode #{state.generation})",
            )
        )
    event = spec.on_missed.alert_event
    if event is not None:
        actions.append(_alert_event(spec, state, alert, event.alert_source_config_id, event.title, event.description))
    return actions


def _recovered_actions(spec: HeartbeatSpec, state: HeartbeatState, alert: Alert) -> list[Action]:
    actions: list[Action] = []
    incident = spec.on_missed.open_incident
    if incident is not None and state.incident_open and state.incident_id and incident.on_resolve != "none":
        actions.append(
            resolve_incident_from_spec(
                incident,
                group_id=state.state_id,
                generation=state.generation,
                incident_id=state.incident_id,
                summary=f"Recovered: heartbeat {state.key} is pinging again ({alert.description}) — alert-courier",
                why=f"heartbeat {state.key} pings again",
            )
        )
    event = spec.on_missed.alert_event
    if event is not None:
        actions.append(_alert_event(spec, state, alert, event.alert_source_config_id, event.title, event.description))
    return actions


def _alert_event(
    spec: HeartbeatSpec, state: HeartbeatState, alert: Alert, config_id: str, title: str, description: str
) -> SendAlertEvent:
    status: Literal["firing", "resolved"] = "firing" if alert.status is AlertStatus.FIRING else "resolved"
    return SendAlertEvent(
        group_id=state.state_id,
        alert_source_config_id=config_id,
        transition_id=f"heartbeat-{state.state_id}-{state.generation}-{status}",
        status=status,
        deduplication_key=f"{HEARTBEAT_SOURCE}:{state.key}#{state.generation}",
        title=render(title, alert) or alert.title,
        description=render(description, alert),
        metadata={"labels": alert.labels, "severity": alert.severity.value, "heartbeat": spec.name},
        reason=f"send the {status} alert event for heartbeat {state.key} to alert source {config_id}",
    )


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else "never"


def _span(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    return "".join(f"{value}{unit}" for value, unit in parts if value) or "0s"


def _grace(spec: HeartbeatSpec) -> str:
    return f" (+{_span(spec.grace)} grace)" if spec.grace else ""
