"""An operator's manual operations on one alert group, when its state has drifted from what is true: acknowledge its
pages, resolve it, forget it. Pure decisions, like `decisions.decide_alert`: the actions (the same action keys the
automatic ones have, so the ledger performs each once, whichever came first) and the state to save."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alert_courier.domain.actions import AcknowledgeEscalation, Action, ResolveIncident, SendAlertEvent
from alert_courier.domain.group_state import GroupState, remember_resolutions
from alert_courier.domain.incident_specs import resolve_incident_from_spec
from alert_courier.domain.rules import OpenIncidentSpec, RuleSet

Operation = Literal["ack", "resolve", "forget"]
OPERATIONS: tuple[Operation, ...] = ("ack", "resolve", "forget")


@dataclass(frozen=True)
class ManualDecision:
    actions: list[Action]
    next_state: GroupState
    reasons: list[str]


def describe_group(state: GroupState) -> str:
    """The group as an operator confirms it: incident, alerts firing, pages, pending levels."""
    incident = state.incident_reference or state.incident_id
    parts = [
        f"incident {incident} {'open' if state.incident_open else 'closed'}" if incident else "no incident",
        f"{len(state.firing)} alert(s) firing",
        f"{len(state.escalation_ids)} page(s)",
        f"{len(state.pending_escalations)} pending escalation level(s)",
    ]
    if state.acknowledged_at:
        parts.append(f"acknowledged at {state.acknowledged_at.isoformat()}")
    return ", ".join(parts)


def decide_manual(
    operation: Operation, state: GroupState, rules: RuleSet, now: datetime, *, by: str, reason: str
) -> ManualDecision:
    why = f"manual {operation} by {by}" + (f": {reason}" if reason else "")
    if operation == "ack":
        return _acknowledge(state, now, why)
    if operation == "resolve":
        return _resolve(state, rules, now, why)
    return _forget(state, why)


def _acknowledge(state: GroupState, now: datetime, why: str) -> ManualDecision:
    """Acknowledges every page of the episode in incident.io and cancels its pending levels (whatever incident.io
    answers: a person decided; the history records a refusal)."""
    if not state.escalation_ids and not state.pending_escalations:
        return ManualDecision([], state, [why, "nothing to acknowledge: the group has no page and no pending level"])
    actions: list[Action] = [
        AcknowledgeEscalation(group_id=state.group_id, escalation_id=page, reason=f"acknowledge page {page}")
        for page in state.escalation_ids
    ]
    cancelled = len(state.pending_escalations)
    next_state = state.model_copy(update={"acknowledged_at": state.acknowledged_at or now, "pending_escalations": []})
    notes = [f"{cancelled} pending escalation level(s) cancelled"] if cancelled else []
    return ManualDecision(actions, next_state, [why, *notes])


def episode_incident_spec(state: GroupState, rules: RuleSet) -> OpenIncidentSpec:
    """The incident spec of the rules the episode started under (the default actions' if none of them opens one)."""
    by_name = {rule.name: rule for rule in rules.rules}
    for name in state.episode_rules:
        specs = by_name[name].actions if name in by_name else rules.default_actions
        for spec in specs:
            if spec.open_incident is not None:
                return spec.open_incident
    default = next((spec.open_incident for spec in rules.default_actions if spec.open_incident), None)
    return default or OpenIncidentSpec()


def _resolve(state: GroupState, rules: RuleSet, now: datetime, why: str) -> ManualDecision:
    """Ends the episode as if every alert of the group had resolved: the rules' alert events are resolved, the
    incident is resolved as the rule's `on_resolve` says, pending levels and unfinished work are dropped, and the
    live firings are remembered as resolved, so a re-sent copy of one is stale while a new firing starts a new
    episode."""
    if not state.firing and not state.incident_open and not state.pending_escalations and not state.unfinished:
        return ManualDecision([], state, [why, "nothing to resolve: the group has no open episode"])
    resolved_through = dict(state.resolved_through)
    for key, started in state.firing.items():
        resolved_through[key] = max(started, resolved_through.get(key, ""))
    next_state = state.model_copy(
        update={
            "firing": {},
            "resolved_through": resolved_through,
            "incident_open": False,
            "pending_escalations": [],
            "unfinished": {},
        }
    )
    next_state = remember_resolutions(state, next_state, now)
    notes = [f"episode ended: {len(state.firing)} firing alert(s) marked resolved"]
    actions: list[Action] = [*_resolved_alert_events(state, rules, why)]
    spec = episode_incident_spec(state, rules)
    if state.incident_open and state.incident_id and state.generation >= 1:
        if spec.on_resolve == "none":
            notes.append("the rule leaves the incident to people (on_resolve: none): incident.io is not called")
        else:
            action: ResolveIncident = resolve_incident_from_spec(
                spec,
                group_id=state.group_id,
                generation=state.generation,
                incident_id=state.incident_id,
                summary=f"Resolved by hand in alert-courier ({why}). — alert-courier",
                why=why,
            )
            actions.append(action)
    elif state.incident_id and not state.incident_open:
        notes.append(f"incident {state.incident_reference or state.incident_id} is already closed")
    return ManualDecision(actions, next_state, [why, *notes])


def _resolved_alert_events(state: GroupState, rules: RuleSet, why: str) -> list[SendAlertEvent]:
    """The episode's rules' alert events, resolved for every alert still firing (dispatch would send each one's
    resolve), so that incident.io's alert sources do not keep them firing."""
    by_name = {rule.name: rule for rule in rules.rules}
    configs: list[str] = []
    for name in state.episode_rules:
        for spec in by_name[name].actions if name in by_name else rules.default_actions:
            if spec.alert_event is not None and spec.alert_event.alert_source_config_id not in configs:
                configs.append(spec.alert_event.alert_source_config_id)
    return [
        SendAlertEvent(
            group_id=state.group_id,
            alert_source_config_id=config,
            transition_id=hashlib.sha256(f"manual-resolve\x1f{state.generation}\x1f{key}".encode()).hexdigest(),
            status="resolved",
            deduplication_key=f"{state.source}:{key}",
            title=state.group_key or key,
            description=why,
            metadata={"group_key": state.group_key, "resolved_by": why},
            reason=f"send the resolved alert event for {key!r} to incident.io alert source {config}",
        )
        for config in configs
        for key in sorted(state.firing)
    ]


def _forget(state: GroupState, why: str) -> ManualDecision:
    """Drops everything alert-courier remembers of the group but its episode counter: the next firing starts a new
    episode (and opens incident number `generation + 1`, which the action ledger has never seen — a group
    restarted at 0 would reuse episode 1's action keys, and the ledger would answer "already done")."""
    fresh = GroupState(
        group_id=state.group_id,
        source=state.source,
        group_key=state.group_key,
        version=state.version,
        generation=state.generation,
    )
    if state.model_copy(update={"updated_at": None}) == fresh:
        return ManualDecision([], state, [why, "nothing to forget: the group's state is already empty"])
    return ManualDecision([], fresh, [why, f"forgot the group's state ({describe_group(state)})"])
