"""Storm collapse, as pure decisions: `storm: {groups: N, within: 5m}` on a rule.

New groups matching the rule are counted per window of `within` (distinct group keys, shared by every container);
the first N open their own incidents as usual. Once more than N have started within the window, the storm is on:
each further new group *joins the storm* instead of opening an incident of its own. The storm is a group state
of its own (group key `storm:<rule>`): its alerts are the member groups' alerts, so its first member opens one
storm incident, the others join it, and it is resolved when the last alert of the last member group recovers
(the ordinary group decisions, `domain.decisions`, with their once-only actions and optimistic saves).

A member group stays in the storm for the storm's episode (its `generation`): its repeats and resolves go there.
A group that already had an episode of its own when the storm began keeps it. Once the storm incident is
resolved, the next new group is counted again.

`wait` (optional) keeps the first N from opening at once: each waits `wait` (a flap-control hold marked as the
storm's, `flap_control.STORM_WAIT_MARK`). When the wait ends the scheduler looks again: a group still firing
while a storm of its rule is on joins it (`join_storm`: its firing alerts move into the storm's state, in one
transaction with its own), so a storm of any size opens one incident; with no storm on it opens its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from alert_courier.domain.actions import StormUpdate
from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.group_state import GroupState, StormMembers
from alert_courier.domain.rules import OpenIncidentSpec, Plan, Rule, RuleSet

STORM_PREFIX = "storm:"
Route = Literal["storm", "own", "count"]


def storm_rule(plan: Plan, rules: RuleSet) -> Rule | None:
    """The first matched rule with a storm option (None: the alert is never collapsed)."""
    by_name = {rule.name: rule for rule in rules.rules}
    for matched in plan.matched:
        rule = by_name.get(matched.rule)
        if rule is not None and rule.storm is not None:
            return rule
    return None


def storm_group_key(rule: Rule) -> str:
    return f"{STORM_PREFIX}{rule.name}"


def storm_is_on(storm: GroupState) -> bool:
    return bool(storm.firing) or storm.incident_open


def knows(state: GroupState, alert: Alert) -> bool:
    """Whether this alert's firing is already recorded in the state: firing there, or resolved there since it
    started (a repeat, a late copy or its resolve then belongs where its firing went)."""
    key = alert.dedup_key
    if key in state.firing:
        return True
    return _resolved_in(state, key, alert.started_at.isoformat() if alert.started_at else "")


def route(alert: Alert, *, member_of: int | None, storm: GroupState, own: GroupState) -> Route:
    """Where an alert of a storm rule goes before any counting: its group's storm, its own group, or to be counted
    (a firing that would start a new group while no storm is on). An alert goes where its firing is recorded;
    a new alert of a group in the storm joins it; a group with an episode of its own keeps it."""
    if knows(storm, alert):
        return "storm"
    if knows(own, alert):
        return "own"
    if member_of is not None and storm_is_on(storm) and member_of == storm.generation:
        return "storm"
    if alert.status is not AlertStatus.FIRING or own.firing or own.incident_open:
        return "own"
    return "storm" if storm_is_on(storm) else "count"


def after_count(counted: int, rule: Rule) -> Route:
    """`counted`: distinct new groups of this window so far, this one included."""
    assert rule.storm is not None
    return "storm" if counted > rule.storm.groups else "own"


def member_generation(storm: GroupState) -> int:
    """The storm episode a joining group belongs to: the one on, or the one its first alert starts."""
    return storm.generation if storm_is_on(storm) else storm.generation + 1


def window_of(now: datetime, within: timedelta) -> str:
    """The counting window `now` falls in (fixed windows of `within` since the epoch), as its start."""
    seconds = int(within.total_seconds())
    start = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(start, tz=now.tzinfo).isoformat()


def waits(rule: Rule) -> bool:
    """Whether a new group counted among the rule's first `groups` waits before opening (`storm.wait`)."""
    return rule.storm is not None and rule.storm.wait is not None


def join_storm(own: GroupState, storm: GroupState, now: datetime) -> tuple[GroupState, GroupState, str] | None:
    """At the end of a group's storm wait: if it still fires, has no incident of its own and a storm of its rule is
    on, its firing alerts move into the storm's state (their repeats and resolves then go there, `route`) and it
    never opens an incident of its own. Returns (own, storm, note) to save together, or None: it opens as usual.
    An alert the storm already saw resolved is not moved (it is over). The storm incident's severity is not
    raised by a joining group."""
    flap = own.flap
    if flap.storm_rule is None or flap.hold_until is None or flap.hold_until > now:
        return None
    if not own.firing or own.incident_open or not storm_is_on(storm):
        return None
    moved = {key: started for key, started in own.firing.items() if not _resolved_in(storm, key, started)}
    storm_next = with_member(
        storm.model_copy(
            update={
                "firing": {**storm.firing, **moved},
                "last_seen": {**storm.last_seen, **{k: v for k, v in own.last_seen.items() if k in moved}},
            }
        ),
        own.group_key,
    )
    own_next = own.model_copy(
        update={
            "firing": {},
            "last_seen": {},
            "flap": flap.model_copy(update={"hold_until": None, "deferred": [], "storm_rule": None}),
        }
    )
    reference = storm.incident_reference or storm.incident_id or "(opening)"
    note = (
        f"storm wait ended at {flap.hold_until.isoformat()}: a storm of rule {flap.storm_rule!r} is on, so the group's"
        f" {len(moved)} firing alert(s) join the storm incident {reference} instead of opening one of its own"
        f" ({', '.join(sorted({a.kind for a in flap.deferred})) or 'nothing'} dropped)"
    )
    return own_next, storm_next, note


def _resolved_in(state: GroupState, key: str, started: str) -> bool:
    through = state.resolved_through.get(key)
    return bool(started and through is not None and started <= through)


MAX_NAMED = 50  # member groups named in a storm's state and its incident's list (the rest are counted)


def with_member(storm: GroupState, member: str) -> GroupState:
    """The storm's state naming one more member group (the first MAX_NAMED; past them it only says there are more)."""
    members = storm.storm_members
    if members is None or members.generation != storm.generation:
        members = StormMembers(generation=storm.generation)
    if member in members.names or members.more:
        return storm
    full = len(members.names) >= MAX_NAMED
    update = {"more": True} if full else {"names": [*members.names, member]}
    return storm.model_copy(update={"storm_members": members.model_copy(update=update)})


def member_list_update(alert: Alert, after: GroupState, *, opens: bool) -> tuple[list[StormUpdate], GroupState]:
    """For a storm's alert: name its group among the members, and each time the storm's firing alerts have doubled
    since the last list (2, 4, 8, …: at most log2 of the storm's size updates), one update on the storm incident
    naming its groups. Counted from the state alone, so a redelivery or a retry after a conflict counts the same."""
    member = alert.raw.get("storm_of")
    if not is_storm(alert) or not isinstance(member, str) or alert.status is not AlertStatus.FIRING:
        return [], after
    after = with_member(after, member)
    members, firing = after.storm_members, len(after.firing)
    # `opens`: this decision opens the storm incident (alerts joined while another container was opening it, and
    # that container's save lost): the list follows the opening, naming "the incident this decision opens"
    if members is None or not (opens or (after.incident_open and after.incident_id)) or firing < 2:
        return [], after
    if firing < 2 * max(members.listed, 1):
        return [], after
    groups = ", ".join(members.names) + (" and more" if members.more else "")
    update = StormUpdate(
        group_id=after.group_id,
        generation=max(after.generation, 1),
        incident_id="" if opens else after.incident_id or "",
        firing=firing,
        summary=(
            f"Alert storm: {firing} alerts are firing in this incident so far, from the groups {groups}."
            " It resolves when the last of them recovers."
        ),
        reason=f"list the storm's groups on incident {after.incident_reference or after.incident_id or '(opening)'}"
        f" ({firing} alerts firing: doubled since the last list)",
    )
    return [update], after.model_copy(update={"storm_members": members.model_copy(update={"listed": firing})})


def into_storm(alert: Alert, rule: Rule) -> Alert:
    """The alert as its storm's: the storm's group, and a note of which group it came from (kept in history)."""
    assert rule.storm is not None
    note = (
        f"storm: more than {rule.storm.groups} new groups matched rule {rule.name!r} within "
        f"{_shown(rule.storm.within)}: group {alert.group_key!r} is part of the storm incident"
    )
    notes = [*alert.raw.get("intake_notes", []), note]
    return alert.model_copy(
        update={
            "group_key": storm_group_key(rule),
            "raw": {**alert.raw, "intake_notes": notes, "storm_of": alert.group_key},
        }
    )


def is_storm(alert: Alert) -> bool:
    return alert.group_key.startswith(STORM_PREFIX)


def storm_incident_spec(spec: OpenIncidentSpec, alert: Alert, rules: RuleSet) -> OpenIncidentSpec:
    """The storm's incident: named for the storm, not for its first member (hook in `decisions`)."""
    if not is_storm(alert):
        return spec
    name = alert.group_key.removeprefix(STORM_PREFIX)
    rule = next((rule for rule in rules.rules if rule.name == name), None)
    if rule is None or rule.storm is None:
        return spec
    return spec.model_copy(
        update={
            "name": f"Alert storm: more than {rule.storm.groups} new groups matching rule {name!r}",
            "summary": (
                f"More than {rule.storm.groups} new alert groups matched rule {name!r} within "
                f"{_shown(rule.storm.within)}; the others are collected here instead of one incident each (first: "
                "{{ alert.title }}). It resolves when the last group recovers."
            ),
        }
    )


def _shown(within: timedelta) -> str:
    seconds = int(within.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
