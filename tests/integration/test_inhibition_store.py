"""The inhibition index on moto: sources per entry (one item each), held targets listed in one Query and released
only if unchanged, expired sources ignored; and the whole enforcement (dispatch's entry + scheduler) on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alert_courier.aws.inhibition_store import HELD_PK, InhibitionStore
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.inhibition import SourceChange, SourceRecord, apply_source_change, source_changes
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
def table(pk_sk_table: Any) -> Any:
    return pk_sk_table


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
        ended_at=NOW - timedelta(minutes=55 - minute) if status == "resolved" else None,
    )
    return AlertEnvelope(alert=alert, correlation_id=f"c-{key}-{status}-{minute}")


def changes(key: str, status: str = "firing", minute: int = 0, node: str = "n1") -> list[SourceChange]:
    return source_changes(envelope(key, "NodeDown", status, node=node, minute=minute).alert, RULES)


def test_sources_are_items_of_their_own_and_expired_ones_do_not_count(table: Any) -> None:
    store = InhibitionStore(table)
    (a,), (b,), (c,) = changes("a"), changes("b"), changes("c", node="n2")
    for change in (a, b, c):
        store.record_source(change)
    assert store.firing_sources(a.entry.key) == {"alertmanager:a", "alertmanager:b"}
    (a_resolved,) = changes("a", "resolved")
    store.record_source(a_resolved)
    assert store.firing_sources(a.entry.key) == {"alertmanager:b"}
    assert store.firing_sources(c.entry.key) == {"alertmanager:c"}
    table.update_item(
        Key={"pk": f"inhibit#{a.entry.key}", "sk": "source#alertmanager:b"},
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )
    assert store.firing_sources(a.entry.key) == set()  # past its TTL though DynamoDB has not deleted it yet


@pytest.mark.parametrize(
    "order",
    [
        [("firing", 0), ("resolved", 0)],
        [("resolved", 0), ("firing", 0)],  # a late copy of the firing the resolve ended: stale
        [("firing", 0), ("firing", 10), ("resolved", 0)],  # the resolve ends the older firing: the newer stays
        [("firing", 10), ("firing", 0)],  # an older firing does not replace a newer one
        [("firing", 0), ("resolved", 0), ("firing", 10)],  # fires again after the resolve
        [("firing", 0), ("resolved", 0), ("firing", 0), ("resolved", 0)],  # repeats
    ],
)
def test_the_store_orders_source_transitions_as_the_domain_does(table: Any, order: list[tuple[str, int]]) -> None:
    store, record = InhibitionStore(table), SourceRecord()
    for status, minute in order:
        (change,) = changes("a", status, minute)
        store.record_source(change)
        record = apply_source_change(record, change)
        firing = {"alertmanager:a"} if record.firing_started is not None else set()
        assert store.firing_sources(change.entry.key) == firing, (status, minute)


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


def test_a_resolve_without_labels_ends_the_source_in_the_entries_it_fired_in(table: Any) -> None:
    """The reconcile pass's resolves carry none of the alert's labels: the store keeps, under the source alert's own
    key, which entries it fired in, so such a resolve still ends it there (and only there)."""
    world = World(RULES, clock=DrivenClock(NOW), inhibition=InhibitionStore(table))
    store = InhibitionStore(table)
    (n1,) = changes("node")
    (n2,) = changes("other", node="n2")
    store.record_source(n1)
    store.record_source(n2)
    assert store.entries_of("alertmanager:node") == [n1.entry]
    synthesized = Alert(
        source="alertmanager",
        dedup_key="node",
        group_key="group-node",
        status=AlertStatus.RESOLVED,
        severity=Severity.ERROR,
        title="node",
        ended_at=NOW,
        received_at=NOW,
        raw={"sender": "reconciler", "reconciled": "Alertmanager says over"},
    )
    assert source_changes(synthesized, RULES) == []  # no labels: no rule's source matcher matches it
    world.entry.hear(synthesized)
    assert store.firing_sources(n1.entry.key) == set()
    assert store.firing_sources(n2.entry.key) == {"alertmanager:other"}
