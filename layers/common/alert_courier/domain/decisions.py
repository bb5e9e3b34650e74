"""Pure decisions: given an alert, the rules and what we remember of its group, what happens.

`decide_alert` is the one decision of the dispatch path, called verbatim by the dispatch use case and by the
`explain` command (and `apply_results` folds the actions' results into the state both keep). No AWS, no MCP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alert_courier.domain.actions import (
    AcknowledgeEscalation,
    Action,
    Escalate,
    OpenIncident,
    ReopenIncident,
    ResolveIncident,
    SendAlertEvent,
    UpdateIncident,
    opened_incident_fields,
)
from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.flap_control import control, controls_of, raise_held
from alert_courier.domain.group_state import GroupState, PendingEscalation, remember_resolutions, state_id_for
from alert_courier.domain.incident_specs import open_incident_from_spec, resolve_incident_from_spec
from alert_courier.domain.reconciliation import FINISH_UNFINISHED
from alert_courier.domain.rules import (
    ActionSpec,
    EscalateSpec,
    OpenIncidentSpec,
    Plan,
    RuleSet,
    plan_for,
    plan_with_rules,
)
from alert_courier.domain.storm import member_list_update, storm_incident_spec
from alert_courier.domain.templates import render
from alert_courier.domain.unfinished_work import closes, resume_unfinished


@dataclass(frozen=True)
class Decision:
    actions: list[Action]
    next_state: GroupState
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AlertDecision:
    """What one alert does: the plan that decided it, the actions, the state to save (before the actions' results
    are folded in by `apply_results`) and the reasons, in words, for the history."""

    plan: Plan
    actions: list[Action]
    next_state: GroupState
    reasons: list[str]


def state_id_of(alert: Alert, rules: RuleSet) -> str:
    """Which group state an alert reads and changes (its group's, or its own for a per-alert incident rule)."""
    plan = plan_for(alert, rules)
    return state_id_for(plan.alert.source, plan.state_key)


def decide_alert(alert: Alert, state: GroupState, rules: RuleSet, now: datetime) -> AlertDecision:
    """The decision for one alert given its group's state (`state_id_of`) and the rules."""
    plan = follow_up_plan(plan_for(alert, rules), state, rules)
    decision = decide(plan, state, rules, now)
    held_state, held_notes = raise_held(decision.next_state, rules)
    decision = Decision(decision.actions, held_state, decision.reasons + held_notes)
    finishing = bool(alert.raw.get(FINISH_UNFINISHED)) and not state.firing and not state.incident_open
    actions, next_state, notes = resume_unfinished(
        alert.transition_id(), state, decision.actions, decision.next_state, plan, rules, finishing=finishing
    )
    reconciled = [f"reconciled: {alert.raw['reconciled']}"] if alert.raw.get("reconciled") else []
    next_state = _heard_of(alert, next_state, rules)
    opens = any(isinstance(action, OpenIncident) for action in actions)
    listing, next_state = member_list_update(alert, next_state, opens=opens)  # a storm's list, at each doubling
    actions = [*actions, *listing]
    return AlertDecision(plan, _once_each(actions), next_state, reconciled + decision.reasons + notes)


def _heard_of(alert: Alert, state: GroupState, rules: RuleSet) -> GroupState:
    """When a firing alert was last received, kept only for an episode whose rules have a `stale_after` (else a
    re-send would cost a write for nothing); the reconciler's own firings are no news from the sender."""
    key = alert.dedup_key
    if alert.status is not AlertStatus.FIRING or alert.raw.get("reconciled") or key not in state.firing:
        return state
    if not any(rule.stale_after for rule in rules.rules if rule.name in state.episode_rules):
        return state
    heard = _iso(alert.received_at)
    if state.last_seen.get(key, "") >= heard:
        return state  # a late or redelivered copy is no newer news
    return state.model_copy(update={"last_seen": {**state.last_seen, key: heard}})


def _once_each(actions: list[Action]) -> list[Action]:
    """Rules that continue can ask for the same side effect twice; it is one action."""
    seen: set[str] = set()
    unique = []
    for action in actions:
        if action.action_key not in seen:
            seen.add(action.action_key)
            unique.append(action)
    return unique


def follow_up_plan(plan: Plan, state: GroupState, rules: RuleSet) -> Plan:
    """A resolve or acknowledgement (or any alert the reconciler synthesized) follows the rules its episode started
    under, if they still exist.

    An `acknowledge` action from the rules that match the follow-up itself is kept as well.
    """
    reconciled = plan.alert.raw.get("sender") == "reconciler"  # its few labels would match other rules: the episode's
    if (plan.alert.status is AlertStatus.FIRING and not reconciled) or not state.episode_rules:
        return plan
    if [matched.rule for matched in plan.matched] == state.episode_rules:
        return plan
    episode = plan_with_rules(plan.alert, rules, state.episode_rules)
    if episode is None:
        return plan
    acknowledgements = [m for m in plan.matched if any(action.acknowledge for action in m.actions)]
    return episode.model_copy(
        update={"matched": episode.matched + acknowledgements, "explanation": plan.explanation + episode.explanation}
    )


def apply_results(state: GroupState, actions: list[Action], results: list[dict[str, Any]]) -> GroupState:
    """The state after the actions that were performed (an opened incident's id, a page's id)."""
    for action, result in zip(actions, results, strict=False):
        if isinstance(action, OpenIncident):
            state = state.model_copy(update=opened_incident_fields(result))
        elif isinstance(action, Escalate) and result.get("escalation_id"):
            state = state.model_copy(update={"escalation_ids": [*state.escalation_ids, result["escalation_id"]]})
        elif isinstance(action, ResolveIncident):
            state = state.model_copy(update={"incident_open": False})
        elif isinstance(action, ReopenIncident):  # or its fallback opened a new one (its result names it)
            fallback = opened_incident_fields(result) if result.get("incident_reference") else {}
            state = state.model_copy(update={"incident_open": True, **fallback})
    opened = [a for a in actions[: len(results)] if isinstance(a, OpenIncident)]
    if opened and closes(actions, opened[-1].generation):
        state = state.model_copy(update={"incident_open": False})  # opened only to be resolved (episode over)
    acknowledgements = [r for a, r in zip(actions, results, strict=False) if isinstance(a, AcknowledgeEscalation)]
    if any(result.get("acknowledged") for result in acknowledgements):
        state = state.model_copy(update={"pending_escalations": []})
    elif acknowledgements:  # incident.io refused: nobody acknowledged the page, the later levels keep running
        state = state.model_copy(update={"acknowledged_at": None})
    return state


@dataclass(frozen=True)
class _Tracked:
    """How this alert changes the group's firing set, before any rule's actions."""

    state: GroupState
    new_transition: bool  # not a re-delivery of something already recorded
    starts_episode: bool  # the group goes from quiet to firing
    ends_episode: bool  # the group's last firing alert resolved
    note: str
    repeat: bool = False  # the alert is already firing here (a re-send, or a change of something else)


def decide(plan: Plan, state: GroupState, rules: RuleSet, now: datetime) -> Decision:
    alert = plan.alert
    reasons = [f"rule {m.rule!r} matched: {'; '.join(m.why)}" for m in plan.matched]
    kinds = [spec.kind for spec in plan.actions]
    if set(kinds) == {"suppress"}:
        return Decision([], state, [*reasons, "suppressed: recorded, nothing called"])
    if alert.status is AlertStatus.ACKNOWLEDGED:
        return _on_acknowledged(state, "acknowledge" in kinds, reasons, now)

    tracked = _track(alert, state)
    upgrade = (
        (tracked.new_transition or tracked.repeat)
        and alert.status is AlertStatus.FIRING
        and not tracked.starts_episode
        and state.episode_severity is not None
        and alert.severity.rank > state.episode_severity.rank
    )
    if not tracked.new_transition and not upgrade:
        return Decision([], tracked.state, [*reasons, tracked.note + (", nothing new" if tracked.repeat else "")])
    if not tracked.new_transition:
        raised, raised_state, raised_notes = _severity_upgrade(plan, state, tracked.state, rules, now)
        return Decision(raised, raised_state, [*reasons, tracked.note, *raised_notes, *[a.reason for a in raised]])
    next_state = tracked.state
    actions: list[Action] = []
    notes = [tracked.note]
    if tracked.starts_episode:
        next_state = next_state.model_copy(
            update={
                "generation": state.generation + 1,
                "opened_at": now,
                "acknowledged_at": None,
                "escalation_ids": [],
                "pending_escalations": [],
                "episode_rules": [matched.rule for matched in plan.matched],
                "episode_severity": alert.severity,
            }
        )
    level = 0
    for spec in plan.actions:
        if spec.alert_event is not None:
            actions.append(
                _alert_event(
                    alert,
                    state,
                    spec.alert_event.alert_source_config_id,
                    render(spec.alert_event.title, alert),
                    render(spec.alert_event.description, alert),
                )
            )
        elif spec.open_incident is not None:
            incident_spec = storm_incident_spec(spec.open_incident, alert, rules)  # a storm's incident is its own
            incident_actions, next_state, note = _incident(alert, state, next_state, tracked, incident_spec, rules)
            actions += incident_actions
            notes.append(note)
        elif spec.escalate is not None:
            if tracked.starts_episode:
                action_or_pending = _escalation(
                    alert, next_state, spec.escalate, level, now, _alert_source(plan.actions)
                )
                if isinstance(action_or_pending, PendingEscalation):
                    next_state = next_state.model_copy(
                        update={"pending_escalations": [*next_state.pending_escalations, action_or_pending]}
                    )
                    notes.append(
                        f"escalation level {level} due at {action_or_pending.due_at.isoformat()} unless acknowledged"
                    )
                else:
                    actions.append(action_or_pending)
            level += 1
    if upgrade:
        raised, next_state, raised_notes = _severity_upgrade(plan, state, next_state, rules, now)
        actions += raised
        notes += raised_notes
    if tracked.ends_episode:
        next_state = next_state.model_copy(update={"pending_escalations": []})
    actions, next_state, flap_notes = control(controls_of(plan, rules), state, next_state, actions, now)
    notes += flap_notes
    next_state = remember_resolutions(state, next_state, now)
    return Decision(actions, next_state, reasons + [note for note in notes if note] + [a.reason for a in actions])


def _severity_upgrade(
    plan: Plan, before: GroupState, state: GroupState, rules: RuleSet, now: datetime
) -> tuple[list[Action], GroupState, list[str]]:
    """A firing alert more severe than anything this episode has fired: the open incident's severity is raised,
    and what the rules matching it add to the episode's rules (an incident, alert events, pages) is done now.
    A less severe alert never lowers it (a responder may have set it): see README "Severity"."""
    alert = plan.alert
    notes = [f"severity raised from {before.episode_severity} to {alert.severity.value} by {alert.dedup_key!r}"]
    actions: list[Action] = []
    added = [matched for matched in plan.matched if matched.rule not in before.episode_rules]
    episode = plan_with_rules(alert, rules, before.episode_rules)
    episode_specs = episode.actions if episode is not None else []
    level = sum(1 for spec in episode_specs if spec.escalate is not None)  # new levels follow the episode's
    has_incident = before.incident_open or any(spec.open_incident is not None for spec in episode_specs)
    for spec in (spec for matched in added for spec in matched.actions):
        if spec.alert_event is not None:
            config = spec.alert_event
            title, description = render(config.title, alert), render(config.description, alert)
            actions.append(_alert_event(alert, state, config.alert_source_config_id, title, description))
        elif spec.open_incident is not None and not has_incident:
            has_incident = True
            actions.append(
                open_incident_from_spec(
                    spec.open_incident,
                    alert,
                    rules,
                    group_id=state.group_id,
                    generation=before.generation,
                    links=alert.links,
                    reason=f"raised to {alert.severity.value}: rule opens an incident for the episode",
                )
            )
        elif spec.escalate is not None:
            action_or_pending = _escalation(alert, state, spec.escalate, level, now, _alert_source(plan.actions))
            if isinstance(action_or_pending, PendingEscalation):
                pending = [*state.pending_escalations, action_or_pending]
                state = state.model_copy(update={"pending_escalations": pending})
                notes.append(f"escalation level {level} due at {action_or_pending.due_at.isoformat()}")
            else:
                actions.append(action_or_pending)
            level += 1
    if before.incident_open and before.incident_id:
        incident_spec = plan.incident_spec
        actions.append(
            UpdateIncident(
                group_id=state.group_id,
                generation=before.generation,
                incident_id=before.incident_id,
                severity=alert.severity,
                severity_name=(incident_spec.severity if incident_spec else None)
                or rules.severity.incident_io.get(alert.severity),
                reason=f"raise incident {before.incident_reference or before.incident_id} to {alert.severity.value}",
            )
        )
    state = state.model_copy(
        update={
            "episode_severity": alert.severity,
            "episode_rules": [*before.episode_rules, *(matched.rule for matched in added)],
            "acknowledged_at": None,  # a more severe alert is news: the levels it adds run
        }
    )
    return actions, state, notes


def _track(alert: Alert, state: GroupState) -> _Tracked:
    started = alert.started_at.isoformat() if alert.started_at else ""
    key = alert.dedup_key
    base = state.model_copy(update={"source": alert.source, "group_key": alert.group_key})
    if alert.status is AlertStatus.FIRING:
        resolved_through = state.resolved_through.get(key)
        if resolved_through is not None and started and started <= resolved_through:
            return _Tracked(state, False, False, False, f"stale firing: the firing of {started} was already resolved")
        live = state.firing.get(key)
        if live is not None and live >= started:
            return _Tracked(base, False, False, False, "already firing: a repeat of a known alert", repeat=True)
        firing = {**state.firing, key: started}
        quiet = not state.firing and not state.incident_open
        if quiet:
            base = base.model_copy(update={"closed_by_human_at": None})
        return _Tracked(base.model_copy(update={"firing": firing}), True, quiet, False, "")
    live = state.firing.get(key)
    ended = alert.ended_at.isoformat() if alert.ended_at else ""
    if live is None:
        # Remember it anyway, so a late or replayed copy of the firing it ends is recognised as stale. A resolve
        # that does not name the firing it ends (CloudWatch OK via SNS, Datadog Recovered) ends every firing
        # that started before it did.
        through = max(started or ended, state.resolved_through.get(key, ""))
        next_state = base.model_copy(update={"resolved_through": {**state.resolved_through, key: through}})
        return _Tracked(next_state, False, False, False, "resolved for an alert that is not firing here")
    if started and live and started < live:
        return _Tracked(
            state, False, False, False, f"stale resolved: it ends the firing of {started}, a newer one ({live}) is live"
        )
    if not started and ended and live and ended < live:
        return _Tracked(
            state, False, False, False, f"stale resolved: it happened at {ended}, before the live firing ({live})"
        )
    firing = {name: value for name, value in state.firing.items() if name != key}
    next_state = base.model_copy(
        update={
            "firing": firing,
            "resolved_through": {**state.resolved_through, key: max(started or live, ended)},
            "last_seen": {name: seen for name, seen in state.last_seen.items() if name != key},
        }
    )
    note = "" if not firing else f"alert resolved; {len(firing)} alert(s) of the group still firing"
    return _Tracked(next_state, True, False, not firing, note)


def _incident(
    alert: Alert, before: GroupState, state: GroupState, tracked: _Tracked, spec: OpenIncidentSpec, rules: RuleSet
) -> tuple[list[Action], GroupState, str]:
    if alert.status is AlertStatus.FIRING:
        if before.incident_open:
            return (
                [],
                state,
                f"incident {before.incident_reference or before.incident_id} is already open; alert joins it",
            )
        if not tracked.starts_episode:
            return [], state, "the group's incident is being opened by an earlier alert"
        action = open_incident_from_spec(
            spec,
            alert,
            rules,
            group_id=state.group_id,
            generation=state.generation,
            links=alert.links,
            reason=f"first firing alert of a quiet group ({alert.group_key!r}): open incident #{state.generation}",
        )
        return [action], state, ""
    if not tracked.ends_episode:
        return [], state, ""
    if not before.incident_open or not before.incident_id:
        return [], state, "every alert of the group resolved; no open incident to resolve"
    closed = state.model_copy(update={"incident_open": False})
    stale_note = alert.raw.get("reconcile_update_only")
    if stale_note:  # a rule's on_stale: update — say so in the incident, leave it to people
        spec = spec.model_copy(update={"on_resolve": "update"})
    if spec.on_resolve == "none":
        return [], closed, "every alert resolved; the rule leaves the incident to people"
    resolve = resolve_incident_from_spec(
        spec,
        group_id=state.group_id,
        generation=before.generation,
        incident_id=before.incident_id,
        summary=str(stale_note)
        if stale_note
        else f"Recovered: every alert of the group has resolved (last: {alert.title}). — alert-courier",
        why="no news from the sender" if stale_note else "every alert of the group has resolved",
    )
    return [resolve], closed, ""


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def close_by_human(state: GroupState, rules: RuleSet, says: str, now: datetime) -> Decision:
    """A person closed the episode's incident in incident.io: no more updates or escalation levels from us.

    Under the episode's rules' `after_human_close` (`new_incident`, the default), what was firing counts as ended
    (a re-send of it is stale), so a new firing opens a new incident; `stay_closed` keeps the alerts firing, so
    nothing opens until the group has gone quiet.
    """
    if not state.incident_open:
        return Decision([], state, [f"reconciled: {says}", "the incident is not open here: nothing to change"])
    stay = any(rule.after_human_close == "stay_closed" for rule in rules.rules if rule.name in state.episode_rules)
    update: dict[str, Any] = {
        "incident_open": False,
        "pending_escalations": [],
        "closed_by_human_at": now,
    }
    notes = [f"reconciled: {says}", "closed by a person: no more updates or escalation levels for this episode"]
    if stay:
        notes.append("after_human_close: stay_closed — later firings of the group open nothing until it is quiet")
    else:
        ended = {key: max(started, state.resolved_through.get(key, "")) for key, started in state.firing.items()}
        update |= {"firing": {}, "last_seen": {}, "resolved_through": {**state.resolved_through, **ended}}
        notes.append("after_human_close: new_incident — a new firing opens a new incident")
    return Decision([], state.model_copy(update=update), notes)


def _alert_event(alert: Alert, state: GroupState, config_id: str, title: str, description: str) -> SendAlertEvent:
    return SendAlertEvent(
        group_id=state.group_id,
        alert_source_config_id=config_id,
        transition_id=alert.transition_id(),
        status="firing" if alert.status is AlertStatus.FIRING else "resolved",
        deduplication_key=f"{alert.source}:{alert.dedup_key}",
        title=title or alert.title,
        description=description,
        source_url=alert.links.get("generator") or next(iter(alert.links.values()), None),
        metadata={"labels": alert.labels, "severity": alert.severity.value, "group_key": alert.group_key},
        reason=f"send the {alert.status.value} alert event to incident.io alert source {config_id}",
    )


def _escalation(
    alert: Alert, state: GroupState, spec: EscalateSpec, level: int, now: datetime, alert_source: str | None
) -> Escalate | PendingEscalation:
    title, description = render(spec.title, alert), render(spec.description, alert)
    if spec.after_minutes > 0:
        return PendingEscalation(
            level=level,
            due_at=now + timedelta(minutes=spec.after_minutes),
            escalation_path_id=spec.escalation_path_id,
            user_ids=spec.user_ids,
            title=title,
            description=description,
            alert_source_config_id=alert_source,
        )
    target = f"path {spec.escalation_path_id}" if spec.escalation_path_id else f"users {spec.user_ids}"
    return Escalate(
        group_id=state.group_id,
        generation=state.generation,
        level=level,
        title=title or alert.title,
        description=description,
        escalation_path_id=spec.escalation_path_id,
        user_ids=spec.user_ids,
        alert_source_config_id=alert_source,
        reason=f"page {target} (level {level})",
    )


def _alert_source(specs: list[ActionSpec]) -> str | None:
    """The alert source a rule sends its alert events to (whose incident.io alert route can page)."""
    return next((spec.alert_event.alert_source_config_id for spec in specs if spec.alert_event is not None), None)


def _on_acknowledged(state: GroupState, act: bool, reasons: list[str], now: datetime) -> Decision:
    next_state = state.model_copy(update={"acknowledged_at": now, "pending_escalations": []})
    if act and state.escalation_ids:  # the levels stop only if incident.io accepts it (`apply_results`)
        next_state = state.model_copy(update={"acknowledged_at": now})
    if not act:
        return Decision([], next_state, [*reasons, "acknowledgement recorded; no rule acts on it"])
    if not state.escalation_ids:
        return Decision([], next_state, [*reasons, "acknowledgement recorded; there is no page to acknowledge"])
    actions: list[Action] = [
        AcknowledgeEscalation(
            group_id=state.group_id, escalation_id=escalation_id, reason=f"acknowledge page {escalation_id}"
        )
        for escalation_id in state.escalation_ids
    ]
    note = "acknowledged: pending escalation levels end once incident.io accepts it (a refusal leaves them running)"
    return Decision(actions, next_state, [*reasons, note])
