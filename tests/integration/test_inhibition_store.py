"""The inhibition index on moto: sources per entry (one item each), held targets listed in one Query and released
only if unchanged, expired sources ignored; and the whole enforcement (dispatch's entry + scheduler) on it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from alert_courier.aws.inhibition_store import HELD_PK, InhibitionStore
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.rules import parse_rules
from tests.fakes import DrivenClock, World

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
RULES = parse_rules(
    """
rules: [{name: all, actions: [open_incident]}]
inhibit_rules:
  - {name: node-down, source: {labels: {alertname: NodeDown}}, target: {labels: {alertname: DiskFull}}, equal: [node]}
"""
)


@pytest.fixture
def table(in_process_aws: None) -> Iterator[Any]:
    dynamodb = boto3.resource("dynamodb")
    yield dynamodb.create_table(
        TableName=f"state-{uuid.uuid4().hex[:8]}",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def envelope(key: str, name: str, status: str = "firing", node: str = "n1", minute: int = 0) -> AlertEnvelope:
    alert = Alert(
        source="alertmanager",
        dedup_key=key,
        group_key=f"group-{key}",
        status=AlertStatus(status),
        severity=Severity.ERROR,
        title=f"{name} {key}",
        labels={"alertname": name, "node": node},
        started_at=NOW - timedelta(hours=1) + timedelta(minutes=minute),
        ended_at=NOW if status == "resolved" else None,
    )
    return AlertEnvelope(alert=alert, correlation_id=f"c-{key}-{status}-{minute}")


def test_sources_are_items_of_their_own_and_expired_ones_do_not_count(table: Any) -> None:
    store = InhibitionStore(table)
    store.source_fired("e", "alertmanager:a", "t0")
    store.source_fired("e", "alertmanager:b", "t0")
    store.source_fired("other", "alertmanager:c", "t0")
    assert store.firing_sources("e") == {"alertmanager:a", "alertmanager:b"}
    store.source_resolved("e", "alertmanager:a")
    assert store.firing_sources("e") == {"alertmanager:b"}
    table.update_item(
        Key={"pk": "inhibit#e", "sk": "source#alertmanager:b"},
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )
    assert store.firing_sources("e") == set()  # past its TTL though DynamoDB has not deleted it yet


def test_a_held_target_is_released_only_if_no_newer_transition_was_held(table: Any) -> None:
    store = InhibitionStore(table)
    first = envelope("disk", "DiskFull")
    store.hold("e", first)
    (held,) = store.held()
    assert (held.entry_key, held.alert_key, held.envelope) == ("e", "alertmanager:disk", first)
    store.hold("e", envelope("disk", "DiskFull", minute=5))  # a newer firing of the same alert: same item
    assert not store.release(held) and len(store.held()) == 1
    (newer,) = store.held()
    assert store.release(newer) and store.held() == []
    store.hold("e", first)
    store.drop("e", "alertmanager:disk")
    assert table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": HELD_PK})["Items"] == []


def test_enforced_on_dynamodb_from_source_firing_to_the_targets_incident(table: Any) -> None:
    world = World(RULES, clock=DrivenClock(NOW), inhibition=InhibitionStore(table))
    opens = lambda: sum(1 for called, _ in world.tools.calls if called == "incident_create")  # noqa: E731
    world.entry.handle(envelope("node", "NodeDown"))
    world.entry.handle(envelope("disk", "DiskFull"))
    world.entry.handle(envelope("disk-n2", "DiskFull", node="n2"))  # another node: not inhibited
    assert opens() == 2
    world.entry.handle(envelope("node", "NodeDown", "resolved"))
    report = world.scheduler.run()
    assert len(report.inhibited_replayed) == 1 and opens() == 3
    assert world.scheduler.run().inhibited_replayed == [] and opens() == 3
