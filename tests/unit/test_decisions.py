"""Group decisions with plain data: one incident per group, resolve when all recovered, stale events ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_courier.domain.actions import AcknowledgeEscalation, Escalate, OpenIncident, ResolveIncident, SendAlertEvent
from alert_courier.domain.alert import Alert, AlertStatus, Severity
from alert_courier.domain.decisions import Decision, apply_results, decide
from alert_courier.domain.group_state import RESOLVED_MEMORY, GroupState
from alert_courier.domain.rules import RuleSet, parse_rules, plan_for

NOW = datetime(2026, 11, 25, 3, 30, tzinfo=UTC)
OPEN_AND_RESOLVE = parse_rules("rules: [{name: all, actions: [open_incident]}]")


def alert(key: str, status: str, started_minute: int = 0, **extra: object) -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key=key,
        group_key="g",
        status=AlertStatus(status),
        title=f"alert {key}",
        started_at=datetime(2026, 11, 25, 3, started_minute, tzinfo=UTC),
        **extra,
    )  # type: ignore[arg-type]


def run(a: Alert, state: GroupState, rules: RuleSet = OPEN_AND_RESOLVE, now: datetime = NOW) -> Decision:
    return decide(plan_for(a, rules), state, rules, now)


def opened(state: GroupState, incident_id: str = "inc-1") -> GroupState:
    return state.model_copy(update={"incident_open": True, "incident_id": incident_id})


def test_first_firing_opens_an_incident_and_later_ones_join_it() -> None:
    first = run(alert("a", "firing"), GroupState(group_id="g1"))
    assert [type(action) for action in first.actions] == [OpenIncident]
    assert first.next_state.generation == 1
    second = run(alert("b", "firing"), opened(first.next_state))
    assert second.actions == []
    assert set(second.next_state.firing) == {"a", "b"}


def test_duplicate_firing_changes_nothing_once_open() -> None:
    state = opened(run(alert("a", "firing"), GroupState(group_id="g1")).next_state)
    again = run(alert("a", "firing"), state)
    assert again.actions == [] and again.next_state == state


def test_incident_resolves_only_when_every_alert_recovered() -> None:
    state = opened(run(alert("a", "firing"), GroupState(group_id="g1")).next_state)
    state = run(alert("b", "firing"), state).next_state
    partial = run(alert("a", "resolved"), state)
    assert partial.actions == []
    final = run(alert("b", "resolved"), partial.next_state)
    assert [type(action) for action in final.actions] == [ResolveIncident]
    resolve = final.actions[0]
    assert isinstance(resolve, ResolveIncident) and resolve.incident_id == "inc-1" and resolve.close


def test_stale_resolved_does_not_close_a_newer_firing() -> None:
    state = opened(run(alert("a", "firing", started_minute=30), GroupState(group_id="g1")).next_state)
    stale = run(alert("a", "resolved", started_minute=5), state)
    assert stale.actions == [] and any("stale" in reason for reason in stale.reasons)
    assert stale.next_state.firing == state.firing


def test_replayed_old_firing_after_resolve_does_not_reopen() -> None:
    state = opened(run(alert("a", "firing", 10), GroupState(group_id="g1")).next_state)
    state = run(alert("a", "resolved", 10), state).next_state
    replay = run(alert("a", "firing", 10), state)
    assert replay.actions == [] and any("stale" in reason for reason in replay.reasons)


def test_refiring_after_resolve_opens_a_new_generation() -> None:
    state = opened(run(alert("a", "firing", 10), GroupState(group_id="g1")).next_state)
    state = run(alert("a", "resolved", 10), state).next_state
    refire = run(alert("a", "firing", 50), state)
    assert isinstance(refire.actions[0], OpenIncident) and refire.actions[0].generation == 2


def test_resolved_before_firing_makes_the_late_firing_stale() -> None:
    state = run(alert("a", "resolved", 10), GroupState(group_id="g1")).next_state
    assert run(alert("a", "firing", 10), state).actions == []


def test_action_keys_are_stable_per_group_and_generation() -> None:
    one = run(alert("a", "firing"), GroupState(group_id="g1")).actions[0]
    two = run(alert("b", "firing"), GroupState(group_id="g1")).actions[0]
    assert one.action_key == two.action_key and one.idempotency_key == two.idempotency_key


def test_suppressed_alerts_call_nothing_and_change_nothing() -> None:
    rules = parse_rules("rules: [{name: quiet, match: {severity: warning}, actions: [suppress]}]")
    decision = run(alert("a", "firing"), GroupState(group_id="g1"), rules)
    assert decision.actions == [] and decision.next_state == GroupState(group_id="g1")
    assert any("suppressed" in reason for reason in decision.reasons)


RICH = parse_rules("""
rules:
  - name: payments
    match: {labels: {team: payments}}
    actions:
      - alert_event: {alert_source_config_id: src-1}
      - open_incident: {on_resolve: update, name: "{{ labels.service }} is down"}
      - escalate: {escalation_path_id: path-1}
      - escalate: {user_ids: [u-1], after_minutes: 15}
      - acknowledge
""")


def test_firing_with_alert_event_incident_and_escalations() -> None:
    decision = run(alert("a", "firing", labels={"team": "payments", "service": "api"}), GroupState(group_id="g1"), RICH)
    kinds = [type(action) for action in decision.actions]
    assert kinds == [SendAlertEvent, OpenIncident, Escalate]
    assert decision.actions[1].name == "api is down"  # type: ignore[union-attr]
    pending = decision.next_state.pending_escalations
    assert [(p.level, p.due_at) for p in pending] == [(1, NOW + timedelta(minutes=15))]


def test_recovery_with_update_only_posts_the_recovery_and_resolves_the_alert_event() -> None:
    labels = {"team": "payments", "service": "api"}
    state = opened(run(alert("a", "firing", labels=labels), GroupState(group_id="g1"), RICH).next_state)
    decision = run(alert("a", "resolved", labels=labels), state, RICH)
    assert [type(action) for action in decision.actions] == [SendAlertEvent, ResolveIncident]
    event, resolve = decision.actions
    assert isinstance(event, SendAlertEvent) and event.status == "resolved"
    assert isinstance(resolve, ResolveIncident) and not resolve.close
    assert decision.next_state.pending_escalations == []


def test_acknowledgement_acknowledges_pages_and_cancels_pending_levels() -> None:
    labels = {"team": "payments", "service": "api"}
    state = run(alert("a", "firing", labels=labels), GroupState(group_id="g1"), RICH).next_state
    state = state.model_copy(update={"escalation_ids": ["esc-1"]})
    decision = run(alert("a", "acknowledged", labels=labels), state, RICH)
    assert decision.actions == [
        AcknowledgeEscalation(group_id="g1", escalation_id="esc-1", reason="acknowledge page esc-1")
    ]
    accepted = apply_results(decision.next_state, decision.actions, [{"acknowledged": True}])
    assert accepted.pending_escalations == [] and accepted.acknowledged_at == NOW


def test_an_acknowledgement_incident_io_refused_leaves_the_later_levels_running() -> None:
    """Regression (issue 13, defect 5): a refused ack used to cancel the pending levels though nobody acked."""
    labels = {"team": "payments", "service": "api"}
    state = run(alert("a", "firing", labels=labels), GroupState(group_id="g1"), RICH).next_state
    state = state.model_copy(update={"escalation_ids": ["esc-1"]})
    decision = run(alert("a", "acknowledged", labels=labels), state, RICH)
    refused = apply_results(decision.next_state, decision.actions, [{"acknowledged": False, "refused": "403"}])
    assert refused.pending_escalations == state.pending_escalations != []
    assert refused.acknowledged_at is None
    assert any("a refusal leaves them running" in reason for reason in decision.reasons)


def test_severity_words_from_the_rules_remap_before_matching() -> None:
    rules = parse_rules("""
severity: {words: {p0: critical}}
rules: [{name: crit, match: {severity: critical}, actions: [open_incident]}, {name: rest, actions: [suppress]}]
""")
    plan = plan_for(alert("a", "firing", raw={"severity_word": "P0"}), rules)
    assert plan.alert.severity is Severity.CRITICAL and plan.matched[0].rule == "crit"


def test_resolutions_recorded_longer_ago_than_the_memory_are_forgotten_so_the_record_stays_small() -> None:
    state = opened(run(alert("a", "firing", 10), GroupState(group_id="g1")).next_state)
    state = run(alert("a", "resolved", 10), state).next_state
    assert "a" in state.resolved_through and state.resolved_at["a"] == NOW.isoformat()
    kept = run(alert("b", "firing", 20), state, now=NOW + RESOLVED_MEMORY - timedelta(days=1)).next_state
    assert kept.resolved_at == {"a": NOW.isoformat()}  # not stamped again: the resolution did not change
    later = run(alert("c", "firing", 20), kept, now=NOW + RESOLVED_MEMORY + timedelta(days=1)).next_state
    assert "a" not in later.resolved_through and later.resolved_at == {} and "b" in later.firing


def test_the_memory_counts_from_the_resolve_not_from_the_firing() -> None:
    state = opened(run(alert("a", "firing", 10), GroupState(group_id="g1"), now=NOW).next_state)
    eight_days_on = NOW + RESOLVED_MEMORY + timedelta(days=1)
    state = run(alert("a", "resolved", 10), state, now=eight_days_on).next_state
    assert state.resolved_through == {"a": alert("a", "firing", 10).started_at.isoformat()}  # type: ignore[union-attr]
    late = run(alert("a", "firing", 10), state, now=eight_days_on + timedelta(minutes=1))
    assert late.actions == [] and "stale firing" in " ".join(late.reasons)


def test_a_resolution_recorded_before_resolved_at_existed_is_kept_the_memory_from_now() -> None:
    legacy = GroupState(group_id="g1", resolved_through={"a": "2026-01-01T00:00:00+00:00"})
    state = run(alert("b", "firing", 20), legacy).next_state
    assert state.resolved_through["a"] == "2026-01-01T00:00:00+00:00" and state.resolved_at["a"] == NOW.isoformat()


def test_times_from_senders_in_other_time_zones_order_correctly() -> None:
    from datetime import timezone

    plus_two = timezone(timedelta(hours=2))
    firing = alert("a", "firing").model_copy()
    later_firing = Alert.model_validate(
        {**firing.model_dump(), "started_at": datetime(2026, 11, 25, 5, 30, tzinfo=plus_two)}
    )
    assert later_firing.started_at == datetime(2026, 11, 25, 3, 30, tzinfo=UTC)
    state = opened(run(later_firing, GroupState(group_id="g1")).next_state)
    same_firing_resolved_in_utc = alert("a", "resolved", 30)  # the same startsAt, written as 03:30Z
    assert [type(action) for action in run(same_firing_resolved_in_utc, state).actions] == [ResolveIncident]
