"""The storm counter and memberships on moto: distinct groups per window, counted once each however often (a
redelivery) and however many containers count at once, capped past the threshold; and the whole collapse on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alert_courier.aws.storm_store import StormStore
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.rules import parse_rules
from tests.fakes import DrivenClock, World

NOW = datetime(2026, 12, 2, 10, 0, 30, tzinfo=UTC)


@pytest.fixture
def table(pk_sk_table: Any) -> Any:
    return pk_sk_table


def test_groups_are_counted_once_each_and_the_set_stops_past_the_limit(table: Any) -> None:
    store = StormStore(table)
    assert [store.count("r", "w1", f"g{n}", 3) for n in range(3)] == [1, 2, 3]
    assert store.count("r", "w1", "g0", 3) == 3  # a redelivery: still three
    assert store.count("r", "w1", "g3", 3) == 4
    assert store.count("r", "w1", "g4", 3) == 4  # past the limit: "more than 3", the set no longer grows
    item = table.get_item(Key={"pk": "storm#r", "sk": "window#w1"})["Item"]
    assert item["groups"] == {"g0", "g1", "g2", "g3"}
    assert store.count("r", "w2", "g9", 3) == 1  # another window
    assert store.member("r", "g3") is None
    store.join("r", "g3", 2)
    assert store.member("r", "g3") == 2


class Interleaved:
    """The table, with another container's count slipped in between this one's read and its write (each time)."""

    def __init__(self, table: Any, other: StormStore, groups: list[str]) -> None:
        self._table, self._other, self._groups = table, other, groups

    def get_item(self, **kwargs: Any) -> Any:
        read = self._table.get_item(**kwargs)
        if self._groups:
            self._other.count("r", "w", self._groups.pop(0), 100)
        return read

    def put_item(self, **kwargs: Any) -> Any:
        return self._table.put_item(**kwargs)


def test_a_count_racing_another_containers_reads_again_and_loses_no_group(table: Any) -> None:
    other = StormStore(table)
    racing = StormStore(Interleaved(table, other, ["x1", "x2", "x3"]))
    assert racing.count("r", "w", "mine", 100) == 4  # three conflicts (x1 on create, x2, x3), then it wins
    item = table.get_item(Key={"pk": "storm#r", "sk": "window#w"})["Item"]
    assert item["groups"] == {"x1", "x2", "x3", "mine"} and item["version"] == 4


def test_storm_collapse_on_dynamodb(table: Any) -> None:
    rules = parse_rules("rules: [{name: nodes, storm: {groups: 2, within: 5m}, actions: [open_incident]}]")
    world = World(rules, clock=DrivenClock(NOW), storms=StormStore(table))
    for n in range(6):
        alert = Alert(
            source="alertmanager",
            dedup_key=f"k{n}",
            group_key=f"g{n}",
            status=AlertStatus.FIRING,
            severity=Severity.ERROR,
            title=f"node {n} down",
            started_at=NOW - timedelta(minutes=1),
        )
        world.entry.handle(AlertEnvelope(alert=alert, correlation_id=f"c{n}"))
    names = sorted(i["name"] for i in world.incidents())
    assert len(names) == 3 and names[0].startswith("Alert storm")
    assert table.get_item(Key={"pk": "storm#nodes", "sk": "member#g5"})["Item"]["generation"] == 1


def test_storm_wait_on_dynamodb_one_incident_and_the_move_is_one_transaction(table: Any) -> None:
    from alert_courier.aws.dynamodb_stores import EscalationTimers, GroupStateStore

    rules = parse_rules("rules: [{name: nodes, storm: {groups: 2, within: 5m, wait: 1m}, actions: [open_incident]}]")
    states = GroupStateStore(table)
    world = World(
        rules, clock=DrivenClock(NOW), storms=StormStore(table), states=states, timers=EscalationTimers(table)
    )
    for n in range(6):
        alert = Alert(
            source="alertmanager",
            dedup_key=f"k{n}",
            group_key=f"g{n}",
            status=AlertStatus.FIRING,
            severity=Severity.ERROR,
            title=f"node {n} down",
            started_at=NOW - timedelta(minutes=1),
        )
        world.entry.handle(AlertEnvelope(alert=alert, correlation_id=f"c{n}"))
    world.clock.advance(seconds=61)
    report = world.scheduler.run()
    assert report.errors == [] and sum("join the storm" in line for line in report.flap_controlled) == 2
    assert [i["name"] for i in world.incidents()] == ["Alert storm: more than 2 new groups matching rule 'nodes'"]
    assert table.get_item(Key={"pk": "storm#nodes", "sk": "member#g0"})["Item"]["generation"] == 1


def test_save_together_writes_both_or_neither(table: Any) -> None:
    from alert_courier.aws.dynamodb_stores import GroupStateStore
    from alert_courier.domain.errors import StaleState
    from alert_courier.domain.group_state import GroupState

    states = GroupStateStore(table)
    first = states.save(GroupState(group_id="a", firing={"k": "t"}))
    second = states.save(GroupState(group_id="b"))
    states.save_together(first.model_copy(update={"firing": {}}), second.model_copy(update={"firing": {"k": "t"}}))
    assert states.load("a").firing == {} and states.load("b").firing == {"k": "t"}
    assert (states.load("a").version, states.load("b").version) == (2, 2)
    with pytest.raises(StaleState):  # `first` as read before: its version moved on, so neither is written
        states.save_together(first, states.load("b").model_copy(update={"firing": {}}))
    assert states.load("b").firing == {"k": "t"} and states.load("b").version == 2
