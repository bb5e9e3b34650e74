"""The history's lookups on DynamoDB (moto, the table exactly as template.yaml declares it, with its indexes):
dispatch and the scheduler on the real stores record decisions; `find_decisions` finds them by dedup key, group
key, incident reference, incident id, the key the incident prints, and a heartbeat's name (every instance)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from alert_courier.aws.dynamodb_stores import DecisionHistory, EscalationTimers, GroupStateStore, HeartbeatStore
from alert_courier.aws.history_index import HistoryLookups
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.rules import parse_rules
from alert_courier.operator_tools.history_lookup import find_decisions
from alert_courier_local.template_model import load_template
from tests.fakes import DrivenClock, World

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
RULES = parse_rules(
    """
rules:
  - name: quiet
    match: {labels: {env: staging}}
    actions: [suppress]
  - name: database
    actions: [open_incident]
heartbeats:
  - {name: watchdog, interval: 10m, grace: 5m, per_label: cluster, instances: [eu-1, us-1]}
"""
)
SOURCES = ["alertmanager", "generic", "heartbeat"]


def state_table() -> Any:
    """The state table with the template's own key schema, attributes and global secondary indexes."""
    properties = load_template()["Resources"]["StateTable"]["Properties"]
    return boto3.resource("dynamodb").create_table(
        TableName=f"history-{uuid.uuid4().hex[:8]}",
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        GlobalSecondaryIndexes=properties["GlobalSecondaryIndexes"],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def subject(in_process_aws: Any) -> tuple[World, Any]:
    table = state_table()
    states = GroupStateStore(table)
    world = World(
        RULES,
        clock=DrivenClock(T0),
        states=states,
        history=DecisionHistory(table),
        heartbeats=HeartbeatStore(table),
        timers=EscalationTimers(table),
    )
    return world, table


def alert(
    dedup_key: str, status: str = "firing", group_key: str = "db-group", started: datetime = T0, **labels: str
) -> AlertEnvelope:
    return AlertEnvelope(
        alert=Alert(
            source="alertmanager",
            dedup_key=dedup_key,
            group_key=group_key,
            status=AlertStatus(status),
            severity=Severity.CRITICAL,
            title=f"Disk full ({dedup_key})",
            labels=labels,
            started_at=started,
        ),
        correlation_id="test",
    )


def keys_of(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(entry["dedup_key"], entry["status"]) for entry in entries]


def test_a_groups_decisions_are_found_by_group_key_incident_reference_id_and_printed_key(
    subject: tuple[World, Any],
) -> None:
    world, table = subject
    for envelope in (alert("db-1"), alert("db-2"), alert("db-1", "resolved"), alert("db-2", "resolved")):
        world.courier.handle(envelope)
    world.courier.handle(alert("other", group_key="another-group"))
    lookups = HistoryLookups(table)
    [record, _] = world.simulator_state().incidents.values()
    incident = record.incident
    printed = re.search(r"alert-courier key: (\S+)", record.arguments["summary"])  # as the incident was opened
    assert printed is not None
    expected = [("db-1", "firing"), ("db-2", "firing"), ("db-1", "resolved"), ("db-2", "resolved")]

    by_group = find_decisions(lookups, "db-group", SOURCES)
    assert keys_of(by_group.entries) == expected and by_group.matched == ["group key (alertmanager)"]
    for name in (incident["reference"], incident["id"], printed.group(1)):
        found = find_decisions(lookups, name, SOURCES)
        assert keys_of(found.entries) == expected, name
        assert found.matched == [f"incident {incident['reference']} (group 'db-group')"]
    assert [e.get("incident_reference") for e in by_group.entries] == [incident["reference"]] * 4
    assert keys_of(find_decisions(lookups, "db-1", SOURCES).entries) == [("db-1", "firing"), ("db-1", "resolved")]
    assert find_decisions(lookups, "no-such-thing", SOURCES).entries == []


def test_an_incident_lookup_returns_only_its_episode(subject: tuple[World, Any]) -> None:
    world, table = subject
    world.courier.handle(alert("db-1"))
    world.courier.handle(alert("db-1", "resolved"))
    world.clock.now = T0 + timedelta(hours=1)
    world.courier.handle(alert("db-1", started=T0 + timedelta(hours=1)))
    first, again = world.incidents()
    lookups = HistoryLookups(table)
    assert keys_of(find_decisions(lookups, first["reference"], SOURCES).entries) == [
        ("db-1", "firing"),
        ("db-1", "resolved"),
    ]
    assert keys_of(find_decisions(lookups, again["reference"], SOURCES).entries) == [("db-1", "firing")]
    assert len(find_decisions(lookups, "db-group", SOURCES).entries) == 3  # the group: both episodes


def test_a_heartbeats_instances_are_found_by_its_name_alone(subject: tuple[World, Any]) -> None:
    world, table = subject
    world.clock.now = T0
    world.scheduler.run()  # starts watching eu-1 and us-1
    world.clock.now = T0 + timedelta(minutes=16)
    report = world.scheduler.run()
    assert sorted(report.missed) == ["watchdog/eu-1", "watchdog/us-1"]
    found = find_decisions(HistoryLookups(table), "watchdog", SOURCES)
    assert sorted(keys_of(found.entries)) == [("watchdog/eu-1", "scheduled"), ("watchdog/us-1", "scheduled")]
    assert found.matched == ["heartbeat (every instance)"]
    [eu] = [i for i in world.incidents() if "eu-1" in i["name"]]
    by_reference = find_decisions(HistoryLookups(table), eu["reference"], SOURCES)
    assert keys_of(by_reference.entries) == [("watchdog/eu-1", "scheduled")]  # that instance's episode only


def test_decisions_are_read_back_by_the_hour_they_were_recorded(subject: tuple[World, Any]) -> None:
    world, table = subject
    before = datetime.now(UTC) - timedelta(seconds=1)
    world.courier.handle(alert("db-1"))
    world.courier.handle(alert("staging-1", group_key="quiet-group", env="staging"))
    recent = HistoryLookups(table).recorded_since(before)
    assert keys_of(recent) == [("db-1", "firing"), ("staging-1", "firing")]
    assert HistoryLookups(table).recorded_since(datetime.now(UTC) + timedelta(seconds=1)) == []
