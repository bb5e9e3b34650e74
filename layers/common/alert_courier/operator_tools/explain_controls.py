"""What `explain` says of the quiet controls of an alert's rules, and the storm collapse it replays.

`control_lines`: each control of the alert's rules that can keep it quiet (hold, reopen_within, flap, storm
collapse, inhibit rules), whether or not it acts on this alert. `route_through_storm`: where dispatch's storm gate
sends the alert (the same `domain.storm` decisions), over `StormReplay`'s counters and memberships: in memory,
started from the deployment's with `--state`; nothing is written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from alert_courier.domain.alert import Alert
from alert_courier.domain.decisions import state_id_of
from alert_courier.domain.group_state import GroupState, state_id_for
from alert_courier.domain.inhibition import as_target
from alert_courier.domain.manual_operations import describe_group
from alert_courier.domain.rules import Plan, Rule, RuleSet
from alert_courier.domain.storm import (
    after_count,
    into_storm,
    member_generation,
    route,
    storm_group_key,
    storm_is_on,
    storm_rule,
    window_of,
)


class StormReads(Protocol):
    """The deployment's storm counters and memberships, read only (`aws.storm_store.StormStore`)."""

    def member(self, rule: str, group_key: str) -> int | None: ...

    def counted(self, rule: str, window: str) -> set[str]: ...


class StormReplay:
    """The storm gate's store for a replay (`use_cases.storm.StormStore`'s semantics): what it counts and joins
    stays in memory."""

    def __init__(self, reads: StormReads | None = None) -> None:
        self.reads = reads
        self._members: dict[tuple[str, str], int | None] = {}
        self._counted: dict[tuple[str, str], set[str]] = {}

    def count(self, rule: str, window: str, group_key: str, limit: int) -> int:
        key = (rule, window)
        if key not in self._counted:
            self._counted[key] = set(self.reads.counted(rule, window)) if self.reads else set()
        groups = self._counted[key]
        if group_key not in groups and len(groups) <= limit:  # the store stops counting past limit + 1
            groups.add(group_key)
        return min(len(groups), limit + 1)

    def member(self, rule: str, group_key: str) -> int | None:
        key = (rule, group_key)
        if key not in self._members:
            self._members[key] = self.reads.member(rule, group_key) if self.reads else None
        return self._members[key]

    def join(self, rule: str, group_key: str, generation: int) -> None:
        self._members[(rule, group_key)] = generation


def route_through_storm(
    alert: Alert,
    plan: Plan,
    rules: RuleSet,
    replay: StormReplay,
    state_of: Callable[[str], GroupState],
    now: datetime,
) -> tuple[Alert, list[str]]:
    """The alert as dispatch's storm gate passes it on (its own, or as its storm group's), and what explain says.
    The steps of `use_cases.storm.StormGate._route` over the same `domain.storm` decisions (explain loads no use
    case: `tests/unit/test_layering.py`)."""
    rule = storm_rule(plan, rules)
    if rule is None or rule.storm is None:
        return alert, []
    storm = state_of(state_id_for(alert.source, storm_group_key(rule)))
    member = replay.member(rule.name, alert.group_key)
    where = route(alert, member_of=member, storm=storm, own=state_of(state_id_of(alert, rules)))
    counted = None
    window = window_of(now, rule.storm.within)
    if where == "count":
        counted = replay.count(rule.name, window, alert.group_key, rule.storm.groups)
        where = after_count(counted, rule)
    if where == "storm" and member != member_generation(storm):
        replay.join(rule.name, alert.group_key, member_generation(storm))
    lines = storm_lines(
        rule,
        alert.group_key,
        storm=storm,
        member=member,
        to_storm=where == "storm",
        counted=counted,
        window=window,
        live=replay.reads is not None,
    )
    return (into_storm(alert, rule) if where == "storm" else alert), lines


def storm_lines(
    rule: Rule,
    group_key: str,
    *,
    storm: GroupState,
    member: int | None,
    to_storm: bool,
    counted: int | None,
    window: str = "",
    live: bool = False,
) -> list[str]:
    """Whether the rule's storm is on, whether the group is a member, and where this alert goes. `storm`: the storm
    group's state before the alert; `member`: the storm episode the group had joined; `counted`: the alert's group
    as the window's n-th new group, if the gate counted it."""
    assert rule.storm is not None
    limit, name, within = rule.storm.groups, rule.name, _words(rule.storm.within)
    where = "now" if live else "in this replay (--state reads the deployment's)"
    on = storm_is_on(storm)
    lines = [
        f"storm of rule {name!r} is on {where}: {describe_group(storm)}"
        if on
        else f"no storm of rule {name!r} is on {where}"
    ]
    in_storm = on and member is not None and member == storm.generation
    if to_storm and in_storm:
        lines.append(f"group {group_key!r} is a member of the storm (episode {member}): this alert goes to it")
    elif to_storm and counted is not None:
        lines.append(
            f"group {group_key!r} is new group {counted} of the {within} window from {window}, more than {limit}: it"
            " joins the storm, whose incident it opens or joins instead of one of its own"
        )
    elif to_storm and on:
        lines.append(f"group {group_key!r} is a new group while the storm is on: it joins the storm")
    elif to_storm:
        lines.append(f"group {group_key!r}: this alert's firing is recorded in the storm group: it goes there")
    elif counted is not None:
        counter = "" if live else " (counted in this replay only)"
        lines.append(
            f"group {group_key!r} is not a member: new group {counted} of the {within} window from {window}{counter},"
            f" not more than {limit}: it is decided as its own group"
        )
    else:
        lines.append(
            f"group {group_key!r} is not a member of the storm: it keeps its own group (it has an episode of its"
            " own, or this is no new firing)"
        )
    return lines


def control_lines(alert: Alert, plan: Plan, rules: RuleSet) -> list[str]:
    """The quiet controls that apply to the alert, each from the first matched rule that sets it (as dispatch
    takes them), and the inhibit rules it is a target of."""
    by_name = {rule.name: rule for rule in rules.rules}
    matched = [by_name[m.rule] for m in plan.matched if m.rule in by_name]
    first: dict[str, Rule] = {}
    for rule in matched:
        for option in ("hold", "reopen_within", "flap"):
            if option not in first and getattr(rule, option) is not None:
                first[option] = rule
    lines = []
    if "hold" in first:
        rule = first["hold"]
        assert rule.hold is not None
        lines.append(
            f"hold {_words(rule.hold)} (rule {rule.name!r}): a new episode's incident and immediate pages wait"
            f" {_words(rule.hold)} and happen only if the group still fires then"
        )
    if "reopen_within" in first:
        rule = first["reopen_within"]
        assert rule.reopen_within is not None
        lines.append(
            f"reopen_within {_words(rule.reopen_within)} (rule {rule.name!r}): firing again within"
            f" {_words(rule.reopen_within)} of its incident's resolve reopens that incident instead of a new one"
        )
    if "flap" in first:
        rule = first["flap"]
        assert rule.flap is not None
        within = _words(rule.flap.within)
        lines.append(
            f"flap {rule.flap.changes} changes within {within} (rule {rule.name!r}): then the incident is held open"
            f" (one flapping update) until the group has been quiet for {within}"
        )
    storm = storm_rule(plan, rules)
    if storm is not None and storm.storm is not None:
        lines.append(
            f"storm {storm.storm.groups} groups within {_words(storm.storm.within)} (rule {storm.name!r}): subject"
            f" to storm collapse: once more than {storm.storm.groups} new groups matched the rule in one"
            f" {_words(storm.storm.within)} window, each further new group joins one storm incident instead of"
            " opening its own"
        )
    for entry in as_target(alert, rules):
        lines.append(f"{entry.describe()}: not acted on while a source alert of the rule fires with these values")
    return lines


def _words(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
