"""Flap control, per rule: `hold`, `reopen_within` and `flap` (issue 14). Pure: no AWS, no MCP.

- `hold: 2m`: the episode's incident (and its immediate pages) wait; the scheduler opens it when the hold ends if
  the group still fires (timer level -1). A group that resolves within the hold opens nothing, and says so.
- `reopen_within: 30m`: a group that fires again within this of its incident's resolve reopens that incident
  (ReopenIncident) instead of opening a new one.
- `flap: {changes: N, within: M}`: at the resolve that makes N quiet/firing changes within M, the resolve is held
  back, one FlappingUpdate is posted and the incident stays open; the scheduler resolves it once the group has
  been quiet for M (timer level -2). Firing again meanwhile just joins the open incident.

`control` is the hook of the dispatch decision (domain.decisions.decide); `decide_due` is the scheduler's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from alert_courier.domain.actions import Action, Escalate, FlappingUpdate, OpenIncident, ReopenIncident, ResolveIncident
from alert_courier.domain.group_state import FlapState, GroupState

if TYPE_CHECKING:
    from alert_courier.domain.rules import FlapSpec, Plan, Rule, RuleSet

HOLD_LEVEL = -1  # escalation timer level of a hold's end
STABLE_LEVEL = -2  # escalation timer level of a flapping spell's end
MAX_CHANGES = 64  # the remembered changes are bounded (a group's record must stay small)
STORM_WAIT_MARK = "storm_wait"  # set on an alert by dispatch's storm gate: its group waits (domain.storm)


@dataclass(frozen=True)
class Controls:
    hold: timedelta | None = None
    reopen_within: timedelta | None = None
    flap: FlapSpec | None = None
    rule: str = ""
    storm_rule: str | None = None  # the hold is this storm rule's `wait` (domain.storm)

    @property
    def any(self) -> bool:
        return self.hold is not None or self.reopen_within is not None or self.flap is not None


def control_problems(rule: Rule) -> list[str]:
    """What is wrong with a rule's flap controls (check-config reports these with the rule's line)."""
    problems = []
    for name in ("hold", "reopen_within"):
        value = getattr(rule, name)
        if value is not None and value <= timedelta(0):
            problems.append(f"{name} must be a positive duration, e.g. 2m")
    if rule.flap is not None and rule.flap.within <= timedelta(0):
        problems.append("flap.within must be a positive duration, e.g. 5m")
    incident = any(action.open_incident is not None for action in rule.actions)
    if (rule.reopen_within is not None or rule.flap is not None) and not incident:
        problems.append("reopen_within and flap act on the rule's incident: the rule needs an open_incident action")
    if rule.hold is not None and not incident and not any(action.escalate is not None for action in rule.actions):
        problems.append("hold delays the rule's incident and pages: the rule needs open_incident or escalate")
    return problems


def controls_of(plan: Plan, rules: RuleSet) -> Controls:
    """The flap controls of the plan's rules (the first matched rule that sets each one)."""
    by_name = {rule.name: rule for rule in rules.rules}
    found: dict[str, object] = {}
    names = []
    for matched in plan.matched:
        rule = by_name.get(matched.rule)
        if rule is None:
            continue
        for name in ("hold", "reopen_within", "flap"):
            if name not in found and getattr(rule, name) is not None:
                found[name] = getattr(rule, name)
                names.append(rule.name)
    hold: timedelta | None = found.get("hold")  # type: ignore[assignment]
    storm_rule = None
    waiting = by_name.get(str(plan.alert.raw.get(STORM_WAIT_MARK) or ""))
    if waiting is not None and waiting.storm is not None and waiting.storm.wait is not None:
        # a new group counted among a storm rule's first `groups` waits to see whether a storm follows
        storm_rule = waiting.name
        if hold is None or waiting.storm.wait > hold:
            hold = waiting.storm.wait
            names.append(waiting.name)
    return Controls(
        hold=hold,
        reopen_within=found.get("reopen_within"),  # type: ignore[arg-type]
        flap=found.get("flap"),  # type: ignore[arg-type]
        rule=", ".join(dict.fromkeys(names)),
        storm_rule=storm_rule,
    )


def _changes_within(flap: FlapState, within: timedelta, now: datetime) -> list[datetime]:
    return [moment for moment in flap.changes if now - moment <= within]


def control(
    controls: Controls, before: GroupState, state: GroupState, actions: list[Action], now: datetime
) -> tuple[list[Action], GroupState, list[str]]:
    """The dispatch decision's actions and next state as the rule's flap controls change them, with the notes."""
    if not controls.any and before.flap.idle:
        return actions, state, []
    flap = state.flap
    notes: list[str] = []
    was_firing, is_firing = bool(before.firing), bool(state.firing)
    changed = was_firing != is_firing
    if changed and controls.flap is not None:
        kept = _changes_within(flap, controls.flap.within, now)
        flap = flap.model_copy(update={"changes": [*kept, now][-MAX_CHANGES:]})
    starts = changed and is_firing
    ends = changed and not is_firing
    if starts and flap.stable_due is not None:  # firing again during a flapping spell: the incident stays open
        flap = flap.model_copy(update={"stable_due": None, "deferred": []})
        notes.append(f"flapping (rule {controls.rule}): firing again, joins the incident held open")
    opens = [action for action in actions if isinstance(action, OpenIncident)]
    if starts and opens and controls.reopen_within is not None:
        actions, note = _reopen(controls, before, flap, actions, opens[0], now)
        if note:
            notes.append(note)
    if starts and controls.hold is not None:
        held = [a for a in actions if isinstance(a, OpenIncident | ReopenIncident | Escalate)]
        if held:
            until = now + controls.hold
            actions = [a for a in actions if a not in held]
            flap = flap.model_copy(update={"hold_until": until, "deferred": held, "storm_rule": controls.storm_rule})
            kinds = ", ".join(sorted({a.kind for a in held}))
            notes.append(
                f"hold {_words(controls.hold)} (rule {controls.rule}): {kinds} wait until {until.isoformat()}"
                " and happen only if the group is still firing then"
                + (
                    f" (storm wait: if a storm of rule {controls.storm_rule!r} is on then, the group joins it)"
                    if controls.storm_rule
                    else ""
                )
            )
    if ends and flap.hold_until is not None:
        notes.append(
            f"transient: resolved within the hold (until {flap.hold_until.isoformat()}); no incident opened"
            f" ({', '.join(sorted({a.kind for a in flap.deferred}))} dropped)"
        )
        flap = flap.model_copy(update={"hold_until": None, "deferred": [], "storm_rule": None})
    resolves = [action for action in actions if isinstance(action, ResolveIncident)]
    if ends and resolves:
        recent = _changes_within(flap, controls.flap.within, now) if controls.flap is not None else []
        if controls.flap is not None and (len(recent) >= controls.flap.changes or flap.spell is not None):
            within = controls.flap.within
            actions = [a for a in actions if a not in resolves]
            flap = flap.model_copy(
                update={"stable_due": now + within, "stable_for": within.total_seconds(), "deferred": resolves}
            )
            state = state.model_copy(update={"incident_open": True})
            if flap.spell is None:
                flap = flap.model_copy(update={"spell": now})
                actions.append(_flapping_update(before, controls, len(recent), now))
            notes.append(
                f"flapping (rule {controls.rule}): {len(recent)} changes within {_words(within)}; the incident is"
                f" held open and resolves at {(now + within).isoformat()} if the group stays quiet until then"
            )
        else:
            flap = flap.model_copy(update={"resolved_at": now})
    return actions, state.model_copy(update={"flap": flap}), notes


def _reopen(
    controls: Controls, before: GroupState, flap: FlapState, actions: list[Action], opening: OpenIncident, now: datetime
) -> tuple[list[Action], str]:
    within = controls.reopen_within
    if within is None or not before.incident_id or flap.resolved_at is None:
        return actions, ""
    since = now - flap.resolved_at
    if since > within:
        return actions, (
            f"reopen_within {_words(within)}: incident {before.incident_reference or before.incident_id} resolved"
            f" {_words(since)} ago, too long: a new incident opens"
        )
    reference = before.incident_reference or before.incident_id
    reopen = ReopenIncident(
        group_id=opening.group_id,
        generation=opening.generation,
        incident_id=before.incident_id,
        summary=f"Firing again {_words(since)} after its resolve: reopened by alert-courier (rule {controls.rule}).",
        fallback=opening,
        reason=f"reopen incident {reference}: the group fired again {_words(since)} after its resolve"
        f" (reopen_within {_words(within)}, rule {controls.rule})",
    )
    return [reopen if action is opening else action for action in actions], ""


def _flapping_update(before: GroupState, controls: Controls, changes: int, now: datetime) -> FlappingUpdate:
    within = controls.flap.within if controls.flap else timedelta(0)
    reference = before.incident_reference or before.incident_id or ""
    return FlappingUpdate(
        group_id=before.group_id,
        generation=max(before.generation, 1),
        incident_id=before.incident_id or "",
        spell=now.isoformat(),
        summary=(
            f"Flapping: {changes} firing/resolved changes within {_words(within)}. alert-courier holds this incident"
            f" open until the group has been quiet for {_words(within)}, instead of closing and reopening it."
        ),
        reason=f"post one flapping update to incident {reference} ({changes} changes within {_words(within)})",
    )


def raise_held(state: GroupState, rules: RuleSet) -> tuple[GroupState, list[str]]:
    """An incident a hold is keeping back opens at the episode's highest severity (a more severe alert during
    the hold raises it, as it would raise an open incident)."""
    severity = state.episode_severity
    held = state.flap.deferred
    if state.flap.hold_until is None or severity is None:
        return state, []
    raised: list[Action] = []
    notes = []
    for action in held:
        opening = action.fallback if isinstance(action, ReopenIncident) else action
        if isinstance(opening, OpenIncident) and severity.rank > opening.severity.rank:
            mapped = opening.severity_name in (None, rules.severity.incident_io.get(opening.severity))
            name = rules.severity.incident_io.get(severity) if mapped else opening.severity_name
            opening = opening.model_copy(update={"severity": severity, "severity_name": name})
            notes.append(f"the held incident will open at {severity.value} (raised during the hold)")
            action = action.model_copy(update={"fallback": opening}) if isinstance(action, ReopenIncident) else opening
        raised.append(action)
    if not notes:
        return state, []
    return state.model_copy(update={"flap": state.flap.model_copy(update={"deferred": raised})}), notes


@dataclass(frozen=True)
class FlapDue:
    actions: list[Action]
    next_state: GroupState  # before the actions' results (domain.decisions.apply_results adds those)
    reasons: list[str]


def due_at(state: GroupState) -> list[tuple[datetime, int]]:
    """The scheduler timers a group's flap control needs: (due time, timer level)."""
    timers = []
    if state.flap.hold_until is not None:
        timers.append((state.flap.hold_until, HOLD_LEVEL))
    if state.flap.stable_due is not None:
        timers.append((state.flap.stable_due, STABLE_LEVEL))
    return timers


def decide_due(state: GroupState, now: datetime) -> FlapDue:
    """The scheduler's decision when a hold or a flapping spell of the group may have ended."""
    flap = state.flap
    actions: list[Action] = []
    reasons: list[str] = []
    if flap.hold_until is not None and flap.hold_until <= now:
        if state.firing:
            actions += flap.deferred
            reasons.append(
                f"hold ended at {flap.hold_until.isoformat()} and the group is still firing:"
                f" {', '.join(a.kind for a in flap.deferred) or 'nothing'} now"
            )
        else:
            reasons.append("hold ended; the group resolved within it: nothing opened")
        flap = flap.model_copy(update={"hold_until": None, "deferred": [], "storm_rule": None})
    elif flap.stable_due is not None and flap.stable_due <= now:
        if state.firing:
            reasons.append("flapping: the group fires again; its incident stays open")
            flap = flap.model_copy(update={"stable_due": None, "deferred": []})
        else:
            stable = timedelta(seconds=flap.stable_for or 0)
            actions += flap.deferred
            reasons.append(f"stable: the group has been quiet for {_words(stable)}; the held-open incident resolves")
            flap = flap.model_copy(
                update={"stable_due": None, "deferred": [], "spell": None, "changes": [], "resolved_at": now}
            )
    if not reasons:
        return FlapDue([], state, [])
    next_state = state.model_copy(update={"flap": flap})
    if any(isinstance(action, ResolveIncident) for action in actions):
        next_state = next_state.model_copy(update={"incident_open": False})
    return FlapDue(actions, next_state, reasons)


def _words(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"
