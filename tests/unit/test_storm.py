"""Storm collapse: the pure decisions (domain.storm) and the storm gate in dispatch's entry on in-memory ports
(tests/fakes.py): beyond N new groups in the window, one storm incident, closed when the last group recovers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.rules import RulesError, parse_rules
from alert_courier.domain.storm import after_count, into_storm, route, window_of
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


# ---- storm.wait: the first N wait, and join a storm that follows --------------------------------------------------

WAITING = parse_rules(
    """
rules:
  - name: nodes
    match: {labels: {job: node}}
    storm: {groups: 20, within: 5m, wait: 1m}
    actions: [open_incident]
"""
)


def _open_incidents(world: World) -> list[str]:
    return [i["name"] for i in incidents(world) if i["category"] != "closed"]


def test_with_wait_a_100_group_storm_opens_one_incident_closed_when_the_last_group_recovers() -> None:
    world = World(WAITING, clock=DrivenClock(NOW))
    groups = [f"node-{n:03d}" for n in range(100)]
    for group in groups:
        world.entry.handle(envelope(group))
    assert _open_incidents(world) == ["Alert storm: more than 20 new groups matching rule 'nodes'"]
    world.clock.advance(seconds=61)
    report = world.scheduler.run()  # the first 20's wait ends while the storm is on: they join it
    assert sum("join the storm incident" in line for line in report.flap_controlled) == 20
    world.clock.advance(minutes=2)
    world.scheduler.run()  # their stale hold timers are dropped; nothing opens
    assert len(incidents(world)) == 1
    (entry, *_) = world.history.read("alertmanager", "node-000-a")
    assert "a storm of rule 'nodes' is on" in " ".join(entry["reasons"])
    for group in groups[:-1]:
        world.entry.handle(envelope(group, "resolved"))  # the waiting groups' resolves go to the storm too
    assert _open_incidents(world) == ["Alert storm: more than 20 new groups matching rule 'nodes'"]
    world.entry.handle(envelope(groups[-1], "resolved"))
    assert _open_incidents(world) == [] and len(incidents(world)) == 1
    world.clock.advance(minutes=5)  # a new window: counted afresh
    world.entry.handle(envelope("node-000", key="b"))  # a new firing of a former member, the storm over
    world.clock.advance(seconds=61)
    world.scheduler.run()
    assert _open_incidents(world) == ["node-000 b down"]


def test_the_storm_incident_lists_its_groups_each_time_its_alerts_double() -> None:
    world = World(RULES, clock=DrivenClock(NOW))  # groups: 3, no wait: from the 4th new group on, the storm
    for n in range(3 + 40):
        world.entry.handle(envelope(f"node-{n:02d}"))
        world.entry.handle(envelope(f"node-{n:02d}", key="b"))  # a second alert of the group: named once
    (storm,) = [r for r in world.simulator_state().incidents.values() if r.incident["name"].startswith("Alert")]
    summaries = [update["summary"] for update in storm.updates if "firing in this incident" in update["summary"]]
    assert [s.split(": ")[1].split(" ")[0] for s in summaries] == ["2", "4", "8", "16", "32", "64"]  # 80 alerts
    assert "from the groups node-03." in summaries[0]  # its two alerts
    assert "from the groups node-03, node-04, node-05, node-06." in summaries[2]
    world.entry.handle(envelope("node-10"))  # a redelivery posts nothing new
    assert len([u for u in storm.updates if "firing in this incident" in u["summary"]]) == 6


def test_with_wait_and_no_storm_each_group_opens_its_own_incident_when_the_wait_ends() -> None:
    world = World(WAITING, clock=DrivenClock(NOW))
    for n in range(5):
        world.entry.handle(envelope(f"g{n}"))
    world.entry.handle(envelope("g4", "resolved"))  # transient: resolved within its wait
    assert incidents(world) == []
    world.clock.advance(seconds=61)
    world.scheduler.run()
    assert sorted(_open_incidents(world)) == [f"g{n} a down" for n in range(4)]
    assert world.storms.members == {}


def test_a_group_that_resolved_in_the_storm_is_not_moved_back_into_it() -> None:
    started = alert("g").started_at
    assert started is not None
    from alert_courier.domain.group_state import FlapState
    from alert_courier.domain.storm import join_storm

    hold_end = NOW - timedelta(seconds=1)
    own = GroupState(
        group_id="g",
        firing={"g-a": started.isoformat(), "g-b": started.isoformat()},
        flap=FlapState(hold_until=hold_end, storm_rule="nodes"),
    )
    storm = GroupState(
        group_id="s", generation=1, incident_open=True, incident_id="I1", resolved_through={"g-b": started.isoformat()}
    )
    joined = join_storm(own, storm, NOW)
    assert joined is not None
    own_next, storm_next, note = joined
    assert storm_next.firing == {"g-a": started.isoformat()} and own_next.firing == {}
    assert own_next.flap.hold_until is None and own_next.flap.storm_rule is None and "1 firing alert(s)" in note
    assert join_storm(own, storm.model_copy(update={"incident_open": False}), NOW) is None  # no storm on
    assert join_storm(own, storm, hold_end - timedelta(seconds=1)) is None  # still waiting
    assert join_storm(own.model_copy(update={"incident_open": True}), storm, NOW) is None  # it has its own


def test_check_config_refuses_a_wait_longer_than_the_window() -> None:
    with pytest.raises(RulesError, match=r"no longer than storm\.within"):
        parse_rules("rules: [{name: s, storm: {groups: 3, within: 5m, wait: 6m}, actions: [open_incident]}]")


def test_alerts_that_joined_while_the_storm_incident_was_opening_are_listed_with_the_opening() -> None:
    from alert_courier.domain.storm import member_list_update

    rule = RULES.rules[0]
    # other containers saved three members while this one's opening was in flight (its save lost, it decides again)
    opening = GroupState(group_id="s", generation=1, firing={f"g{n}-a": "t" for n in range(4)})
    stormy = alert("g0").model_copy(update={"group_key": "storm:nodes", "raw": {"storm_of": "g0"}})
    assert into_storm(alert("g0"), rule).raw["storm_of"] == "g0"
    (update,), after = member_list_update(stormy, opening, opens=True)
    assert update.incident_id == "" and update.firing == 4  # "the incident this decision opens", filled in by it
    assert member_list_update(stormy, opening, opens=False)[0] == []  # no incident known yet: nothing to post to
    assert after.storm_members is not None and after.storm_members.listed == 4
