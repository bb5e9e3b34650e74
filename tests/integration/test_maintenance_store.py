"""The maintenance windows' DynamoDB store on moto: what dispatch reads stays small (settled windows move out of it),
ending and settling are conditional, held alerts are kept per transition and released by key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alert_courier.aws.maintenance_store import WINDOWS_PK, MaintenanceStore, UnknownWindow
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus
from alert_courier.domain.maintenance import MaintenanceWindow, WindowRequest

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def table(pk_sk_table: Any) -> Any:
    return pk_sk_table


def opened(store: MaintenanceStore, minutes: int = 30) -> MaintenanceWindow:
    request = WindowRequest.model_validate(
        {"match": {"labels": {"team": "ops"}}, "duration": f"{minutes}m", "reason": "deploy", "created_by": "ci"}
    )
    return store.add(request.window(store.new_id(), NOW))


def envelope(key: str, status: str = "firing") -> AlertEnvelope:
    alert = Alert(
        source="alertmanager",
        dedup_key=key,
        group_key="g",
        status=AlertStatus(status),
        title=key,
        started_at=NOW,
        ended_at=NOW + timedelta(minutes=1) if status == "resolved" else None,
    )
    return AlertEnvelope(alert=alert, correlation_id="c")


def test_windows_round_trip_and_end_early_once(table: Any) -> None:
    store = MaintenanceStore(table)
    window = opened(store)
    assert store.windows() == [window] and store.window(window.id) == window
    item = table.get_item(Key={"pk": WINDOWS_PK, "sk": f"window#{window.id}"})["Item"]
    assert int(item["expiration"]) == int((window.ends_at + timedelta(days=30)).timestamp())  # the TTL
    ended = store.expire(window.id, NOW + timedelta(minutes=5), "ci")
    assert ended.ends_at == NOW + timedelta(minutes=5) and ended.expired_by == "ci"
    assert store.expire(window.id, NOW + timedelta(minutes=9), "someone else") == ended  # already over
    with pytest.raises(UnknownWindow):
        store.expire("mw-0123456789abcdef", NOW, "ci")


def test_a_settled_window_leaves_what_dispatch_reads_and_stays_listed(table: Any) -> None:
    store = MaintenanceStore(table)
    window = opened(store)
    other = opened(store, minutes=60)
    store.settle(window, NOW + timedelta(hours=1))
    assert store.windows() == [other]  # dispatch's read: only what is not settled
    listed = {w.id: w for w in store.all_windows()}
    assert listed[window.id].settled_at == NOW + timedelta(hours=1) and other.id in listed
    assert store.window(window.id).settled_at is not None
    assert store.expire(window.id, NOW, "ci").settled_at is not None  # nothing to end


def test_settling_a_window_someone_changed_meanwhile_changes_nothing(table: Any) -> None:
    store = MaintenanceStore(table)
    window = opened(store)
    store.expire(window.id, NOW + timedelta(minutes=1), "ci")
    store.settle(window, NOW + timedelta(hours=1))  # the copy read before the expire
    assert [w.id for w in store.windows()] == [window.id]  # still live: the next run looks again


def test_held_alerts_are_kept_per_transition_and_released_by_key(table: Any) -> None:
    store = MaintenanceStore(table)
    window = opened(store)
    store.hold(window, envelope("a"))
    store.hold(window, envelope("a"))  # a redelivery: the same item
    store.hold(window, envelope("a", "resolved"))
    store.hold(window, envelope("b"))
    held = store.held(window.id)
    assert len(held) == 3 and store.held_count(window.id) == 3
    assert {item.envelope.alert.dedup_key for item in held} == {"a", "b"}
    store.release(window.id, [item.key for item in held if item.envelope.alert.dedup_key == "a"])
    assert [item.envelope.alert.dedup_key for item in store.held(window.id)] == ["b"]
