"""Pure decisions: given an alert and what we remember of its group, what should happen. No AWS, no MCP.

Shared verbatim by the dispatch function and the `explain` command.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .actions import Action, OpenIncident, ResolveIncident
from .alert import Alert, AlertStatus
from .group_state import GroupState


@dataclass(frozen=True)
class Decision:
    actions: list[Action]
    next_state: GroupState
    reasons: list[str] = field(default_factory=list)


def decide(alert: Alert, state: GroupState) -> Decision:
    if alert.status is AlertStatus.FIRING:
        return _on_firing(alert, state)
    if alert.status is AlertStatus.RESOLVED:
        return _on_resolved(alert, state)
    return Decision([], state, [f"{alert.status.value}: nothing to do for this source yet"])


def _started(alert: Alert) -> str:
    return alert.started_at.isoformat() if alert.started_at else ""


def _on_firing(alert: Alert, state: GroupState) -> Decision:
    started = _started(alert)
    resolved_through = state.resolved_through.get(alert.dedup_key)
    if resolved_through is not None and started and started <= resolved_through:
        return Decision([], state, [f"stale firing: this firing (started {started}) was already resolved"])
    firing = dict(state.firing)
    firing[alert.dedup_key] = max(started, firing.get(alert.dedup_key, ""))
    next_state = state.model_copy(update={"firing": firing, "source": alert.source, "group_key": alert.group_key})
    if state.incident_open:
        reference = state.incident_reference or state.incident_id
        return Decision([], next_state, [f"incident {reference} is already open for this group; alert recorded"])
    generation = state.generation + 1
    action = OpenIncident(
        group_id=state.group_id,
        generation=generation,
        name=alert.title,
        summary=_summary(alert),
        severity=alert.severity,
        links=alert.links,
        reason=f"first firing alert of group {alert.group_key!r} with no open incident",
    )
    return Decision([action], next_state.model_copy(update={"generation": generation}), [action.reason])


def _on_resolved(alert: Alert, state: GroupState) -> Decision:
    started = _started(alert)
    live = state.firing.get(alert.dedup_key)
    if live is None:
        # Remember it anyway, so a late or replayed copy of the firing it ends is recognised as stale.
        resolved_through = {
            **state.resolved_through,
            alert.dedup_key: max(started, state.resolved_through.get(alert.dedup_key, "")),
        }
        next_state = state.model_copy(update={"resolved_through": resolved_through})
        return Decision([], next_state, ["resolved for an alert that is not firing here: nothing to do"])
    if started and live and started < live:
        return Decision([], state, [f"stale resolved: it ends the firing of {started}, a newer one ({live}) is live"])
    firing = {key: value for key, value in state.firing.items() if key != alert.dedup_key}
    resolved_through = {**state.resolved_through, alert.dedup_key: started or live}
    next_state = state.model_copy(update={"firing": firing, "resolved_through": resolved_through})
    if firing:
        return Decision([], next_state, [f"alert resolved; {len(firing)} alert(s) of the group still firing"])
    if not state.incident_open or not state.incident_id:
        return Decision([], next_state, ["every alert of the group resolved; no open incident to resolve"])
    action = ResolveIncident(
        group_id=state.group_id,
        generation=state.generation,
        incident_id=state.incident_id,
        summary=f"Resolved by alert-courier: every alert of the group recovered (last: {alert.title}).",
        reason="every alert of the group has resolved",
    )
    return Decision([action], next_state, [action.reason])


def _summary(alert: Alert) -> str:
    lines = [alert.description or alert.title, "", f"Source: {alert.source}; severity: {alert.severity.value}"]
    lines += [f"{name}: {url}" for name, url in alert.links.items()]
    return "\n".join(lines)
