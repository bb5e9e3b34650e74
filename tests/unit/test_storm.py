"""Storm collapse: the pure decisions (domain.storm) and the storm gate in dispatch's entry on in-memory ports
(tests/fakes.py): beyond N new groups in the window, one storm incident, closed when the last group recovers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.rules import RulesError, parse_rules
from alert_courier.domain.storm import after_count, route, window_of
from tests.fakes import DrivenClock, World

NOW = datetime(2026, 12, 2, 10, 0, 30, tzinfo=UTC)
RULES = parse_rules(
    """
rules:
  - name: nodes
    match: {labels: {job: node}}
    storm: {groups: 3, within: 5m}
    actions: [open_incident]
  - name: rest
    actions: [open_incident]
"""
)


def alert(group: str, status: str = "firing", *, key: str = "a", job: str = "node") -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key=f"{group}-{key}",
        group_key=group,
        status=AlertStatus(status),
        severity=Severity.ERROR,
        title=f"{group} {key} down",
        labels={"job": job, "group": group},
        started_at=NOW - timedelta(minutes=10),
        ended_at=NOW if status == "resolved" else None,
    )


def envelope(group: str, status: str = "firing", **kwargs: str) -> AlertEnvelope:
    return AlertEnvelope(alert=alert(group, status, **kwargs), correlation_id=f"c-{group}-{status}")


def incidents(world: World) -> list[dict[str, str]]:
    return [{"name": i["name"], "category": i["incident_status"]["category"]} for i in world.incidents()]


# ---- the pure decisions ---------------------------------------------------------------------------------------


def test_route_counts_only_firings_of_quiet_groups_while_no_storm_is_on() -> None:
    quiet, on = GroupState(group_id="s"), GroupState(group_id="s", generation=2, firing={"x": "t"})
    busy = GroupState(group_id="g", firing={"g-a": "t"})
    assert route(alert("g"), member_of=None, storm=quiet, own=GroupState(group_id="g")) == "count"
    assert route(alert("g"), member_of=None, storm=quiet, own=busy) == "own"  # it has its own episode
    assert route(alert("g"), member_of=None, storm=on, own=GroupState(group_id="g")) == "storm"  # joins
    assert route(alert("g", "resolved"), member_of=2, storm=on, own=GroupState(group_id="g")) == "storm"
    assert route(alert("g", "resolved"), member_of=1, storm=on, own=GroupState(group_id="g")) == "own"  # old storm
    assert route(alert("g", "resolved"), member_of=None, storm=on, own=GroupState(group_id="g")) == "own"
    rule = RULES.rules[0]
    assert [after_count(n, rule) for n in (1, 3, 4)] == ["own", "own", "storm"]


def test_an_alert_goes_where_its_firing_is_recorded() -> None:
    started = alert("g").started_at
    assert started is not None
    over = GroupState(group_id="s", generation=1, resolved_through={"g-a": started.isoformat()})
    quiet = GroupState(group_id="g")
    # A late copy of a firing the (now quiet) storm resolved: to the storm, which calls it stale; not counted.
    assert route(alert("g"), member_of=1, storm=over, own=quiet) == "storm"
    own_over = GroupState(group_id="g", generation=1, resolved_through={"g-a": started.isoformat()})
    assert route(alert("g"), member_of=None, storm=GroupState(group_id="s"), own=own_over) == "own"


def test_windows_are_fixed_spans_of_within() -> None:
    five = timedelta(minutes=5)
    assert window_of(NOW, five) == window_of(NOW + timedelta(minutes=4), five) == "2026-12-02T10:00:00+00:00"
    assert window_of(NOW + timedelta(minutes=5), five) == "2026-12-02T10:05:00+00:00"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{name: s, storm: {groups: 3, within: 5m}, actions: [suppress]}]", "storm collapses the group"),
        (
            "rules: [{name: s, storm: {groups: 3, within: 5m}, actions: [{open_incident: {per: alert}}]}]",
            "storm collapses the group",
        ),
        ("rules: [{name: s, storm: {groups: 3, within: 1s}, actions: [open_incident]}]", "between 10s and 1d"),
        ("rules: [{name: s, storm: {groups: -1, within: 5m}, actions: [open_incident]}]", "greater than or equal"),
        ("rules: [{name: s, storm: {group: 3, within: 5m}, actions: [open_incident]}]", "Extra inputs"),
    ],
)
def test_check_config_refuses_bad_storm_options(text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        parse_rules(text)


# ---- through dispatch's entry ------------------------------------------------------------------------------------


def test_beyond_n_new_groups_one_storm_incident_closed_when_the_last_group_recovers() -> None:
    world = World(RULES, clock=DrivenClock(NOW))
    groups = [f"node-{n:02d}" for n in range(12)]
    for group in groups:
        world.entry.handle(envelope(group))
        world.entry.handle(envelope(group))  # a re-send: nothing new
    world.entry.handle(envelope("web", job="web"))  # another rule: its own incident
    names = [i["name"] for i in incidents(world)]
    assert len(names) == 3 + 1 + 1  # the first 3 groups, one storm incident, the other rule's group
    storm = [i for i in incidents(world) if i["name"].startswith("Alert storm")]
    assert [i["name"] for i in storm] == ["Alert storm: more than 3 new groups matching rule 'nodes'"]
    (entry,) = world.history.read("alertmanager", "node-05-a")[:1]
    assert any("part of the storm incident" in note for note in entry["intake_notes"])
    for group in groups[3:-1]:
        world.entry.handle(envelope(group, "resolved"))
    assert [i["category"] for i in incidents(world) if i["name"].startswith("Alert storm")] == ["triage"]
    world.entry.handle(envelope(groups[-1], "resolved"))  # the last group of the storm recovers
    assert [i["category"] for i in incidents(world) if i["name"].startswith("Alert storm")] == ["closed"]
    assert sum(1 for i in incidents(world) if i["category"] != "closed") == 3 + 1  # the first 3 and `web`
    for group in groups[:3]:
        world.entry.handle(envelope(group, "resolved"))
    assert sum(1 for i in incidents(world) if i["category"] != "closed") == 1


def test_a_new_window_counts_again_and_a_later_storm_opens_a_new_incident() -> None:
    world = World(RULES, clock=DrivenClock(NOW))
    for n in range(5):
        world.entry.handle(envelope(f"g{n}"))
    for n in range(5):
        world.entry.handle(envelope(f"g{n}", "resolved"))
    assert len(incidents(world)) == 4 and all(i["category"] == "closed" for i in incidents(world))
    world.clock.advance(minutes=5)
    for n in range(5, 8):  # three new groups in a new window: under the threshold, one incident each
        world.entry.handle(envelope(f"g{n}"))
    assert len(incidents(world)) == 7
    world.entry.handle(envelope("g8"))  # the fourth of this window: a second storm incident
    storms = [i for i in incidents(world) if i["name"].startswith("Alert storm")]
    assert [i["category"] for i in storms] == ["closed", "triage"]


def test_a_group_with_its_own_episode_keeps_it_during_a_storm() -> None:
    world = World(RULES, clock=DrivenClock(NOW))
    for n in range(5):
        world.entry.handle(envelope(f"g{n}"))
    world.entry.handle(envelope("g0", key="b"))  # g0 opened its own incident before the storm: b joins it
    world.entry.handle(envelope("g0", "resolved"))
    world.entry.handle(envelope("g0", "resolved", key="b"))
    closed = [i["name"] for i in incidents(world) if i["category"] == "closed"]
    assert len(closed) == 1 and not closed[0].startswith("Alert storm")


def test_rules_without_storm_never_touch_the_counters() -> None:
    world = World(parse_rules("rules: [{name: all, actions: [open_incident]}]"), clock=DrivenClock(NOW))
    for n in range(10):
        world.entry.handle(envelope(f"g{n}"))
    assert world.storms.windows == {} and len(incidents(world)) == 10
