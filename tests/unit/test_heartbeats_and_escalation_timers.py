"""Escalation timing with plain data: timer keys, and what a group with due levels gets (or not)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_courier.domain.escalation_timers import (
    Timer,
    apply_escalations,
    decide_escalations,
    due_bound,
    needs_page_check,
    sortable,
    timers_for,
)
from alert_courier.domain.group_state import GroupState, PendingEscalation

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def pending(level: int, minutes: int, **target: object) -> PendingEscalation:
    target = target or {"user_ids": [f"user-{level}"]}
    return PendingEscalation(level=level, due_at=T0 + timedelta(minutes=minutes), title=f"page {level}", **target)  # type: ignore[arg-type]


def group(**update: object) -> GroupState:
    state = GroupState(
        group_id="g1",
        group_key="DiskFull",
        generation=2,
        firing={"a": "2026-11-25T03:00:00+00:00"},
        escalation_ids=["page-0"],
        pending_escalations=[pending(1, 15), pending(2, 30, escalation_path_id="path-2")],
    )
    return state.model_copy(update=update)


def test_timer_keys_sort_by_due_time_and_round_trip() -> None:
    timers = timers_for(group())
    assert [Timer.from_sk(t.sk) for t in timers] == timers
    assert timers[0].sk == f"{sortable(T0 + timedelta(minutes=15))}#g1#2#1"
    assert sorted(t.sk for t in timers) == [t.sk for t in timers]
    assert timers[0].sk <= due_bound(T0 + timedelta(minutes=15)) < timers[1].sk
    assert sortable(T0 + timedelta(microseconds=1)) > sortable(T0)  # fixed width: string order is time order


def test_nothing_happens_before_a_level_is_due() -> None:
    state = group()
    assert not needs_page_check(state, T0 + timedelta(minutes=14))
    decision = decide_escalations(state, T0 + timedelta(minutes=14), {"page-0": "triggered"})
    assert decision.actions == [] and decision.next_state == state


def test_an_unacknowledged_group_escalates_each_due_level_once() -> None:
    state = group()
    now = T0 + timedelta(minutes=15)
    assert needs_page_check(state, now)
    decision = decide_escalations(state, now, {"page-0": "triggered"})
    [level_1] = decision.actions
    assert (level_1.level, level_1.generation, level_1.user_ids) == (1, 2, ["user-1"])
    assert level_1.action_key == "escalate#g1#2#1"  # the same claim however many runs see it
    after = apply_escalations(decision.next_state, decision.actions, [{"escalation_id": "page-1"}])
    assert [p.level for p in after.pending_escalations] == [2] and after.escalation_ids == ["page-0", "page-1"]

    late = decide_escalations(group(), T0 + timedelta(hours=2), {"page-0": "expired"})  # a run that was late
    assert [action.level for action in late.actions] == [1, 2]
    assert late.actions[1].escalation_path_id == "path-2"


def test_an_acknowledged_page_cancels_the_later_levels() -> None:
    now = T0 + timedelta(minutes=20)
    decision = decide_escalations(group(), now, {"page-0": "acked"})
    assert decision.actions == []
    assert decision.next_state.pending_escalations == [] and decision.next_state.acknowledged_at == now
    assert timers_for(decision.next_state) == []


def test_an_acknowledgement_or_recovery_already_recorded_needs_no_question() -> None:
    acknowledged = group(acknowledged_at=T0)
    assert not needs_page_check(acknowledged, T0 + timedelta(hours=1))
    assert decide_escalations(acknowledged, T0 + timedelta(hours=1), {}).next_state.pending_escalations == []
    recovered = group(firing={})
    assert not needs_page_check(recovered, T0 + timedelta(hours=1))
    assert decide_escalations(recovered, T0 + timedelta(hours=1), {}).actions == []


def test_a_failed_level_stays_pending() -> None:
    decision = decide_escalations(group(), T0 + timedelta(hours=1), {})
    after = apply_escalations(decision.next_state, decision.actions[:1], [{"escalation_id": "page-1"}])
    assert [p.level for p in after.pending_escalations] == [2]
