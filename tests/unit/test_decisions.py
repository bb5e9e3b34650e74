"""Group decisions with plain data: one incident per group, resolve when all recovered, stale events ignored."""

from __future__ import annotations

from datetime import UTC, datetime

from alert_courier.actions import OpenIncident, ResolveIncident
from alert_courier.alert import Alert, AlertStatus
from alert_courier.decisions import decide
from alert_courier.group_state import GroupState


def alert(key: str, status: str, started_minute: int = 0) -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key=key,
        group_key="g",
        status=AlertStatus(status),
        title=f"alert {key}",
        started_at=datetime(2026, 11, 25, 3, started_minute, tzinfo=UTC),
    )


def opened(state: GroupState, incident_id: str = "inc-1") -> GroupState:
    return state.model_copy(update={"incident_open": True, "incident_id": incident_id})


def test_first_firing_opens_an_incident_and_later_ones_join_it() -> None:
    state = GroupState(group_id="g1")
    first = decide(alert("a", "firing"), state)
    assert [type(action) for action in first.actions] == [OpenIncident]
    assert first.next_state.generation == 1
    second = decide(alert("b", "firing"), opened(first.next_state))
    assert second.actions == []
    assert set(second.next_state.firing) == {"a", "b"}


def test_duplicate_firing_changes_nothing_once_open() -> None:
    state = opened(decide(alert("a", "firing"), GroupState(group_id="g1")).next_state)
    again = decide(alert("a", "firing"), state)
    assert again.actions == [] and again.next_state == state


def test_incident_resolves_only_when_every_alert_recovered() -> None:
    state = GroupState(group_id="g1")
    state = opened(decide(alert("a", "firing"), state).next_state)
    state = decide(alert("b", "firing"), state).next_state
    partial = decide(alert("a", "resolved"), state)
    assert partial.actions == []
    final = decide(alert("b", "resolved"), partial.next_state)
    assert [type(action) for action in final.actions] == [ResolveIncident]
    assert final.actions[0].incident_id == "inc-1"  # type: ignore[union-attr]


def test_stale_resolved_does_not_close_a_newer_firing() -> None:
    state = opened(decide(alert("a", "firing", started_minute=30), GroupState(group_id="g1")).next_state)
    stale = decide(alert("a", "resolved", started_minute=5), state)
    assert stale.actions == [] and "stale" in stale.reasons[0]
    assert stale.next_state.firing == state.firing


def test_replayed_old_firing_after_resolve_does_not_reopen() -> None:
    state = opened(decide(alert("a", "firing", 10), GroupState(group_id="g1")).next_state)
    state = decide(alert("a", "resolved", 10), state).next_state.model_copy(update={"incident_open": False})
    replay = decide(alert("a", "firing", 10), state)
    assert replay.actions == [] and "stale" in replay.reasons[0]


def test_refiring_after_resolve_opens_a_new_generation() -> None:
    state = opened(decide(alert("a", "firing", 10), GroupState(group_id="g1")).next_state)
    state = decide(alert("a", "resolved", 10), state).next_state.model_copy(update={"incident_open": False})
    refire = decide(alert("a", "firing", 50), state)
    assert isinstance(refire.actions[0], OpenIncident) and refire.actions[0].generation == 2


def test_resolved_before_firing_makes_the_late_firing_stale() -> None:
    state = decide(alert("a", "resolved", 10), GroupState(group_id="g1")).next_state
    late = decide(alert("a", "firing", 10), state)
    assert late.actions == []


def test_action_keys_are_stable_per_group_and_generation() -> None:
    one = decide(alert("a", "firing"), GroupState(group_id="g1")).actions[0]
    two = decide(alert("b", "firing"), GroupState(group_id="g1")).actions[0]
    assert one.action_key == two.action_key
    assert isinstance(one, OpenIncident) and isinstance(two, OpenIncident)
    assert one.idempotency_key == two.idempotency_key
