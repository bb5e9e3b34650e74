"""Heartbeat rules and decisions with plain data: no AWS, no MCP, time given explicitly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alert_courier.domain.actions import OpenIncident, ResolveIncident, SendAlertEvent
from alert_courier.domain.heartbeat_decisions import (
    HeartbeatState,
    apply_heartbeat_results,
    decide_heartbeat,
    evaluate,
    instances_to_check,
    latest_deadline,
    previous_deadline,
)
from alert_courier.domain.rules import DailyDeadlines, RulesError, RuleSet, load_rules, parse_rules

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday


def rules_with(heartbeats: str) -> RuleSet:
    return parse_rules(f"heartbeats:\n{heartbeats}")


def interval_rules() -> RuleSet:
    return rules_with("  - {name: cron-job, interval: 5m, grace: 1m}\n")


def step(rules: RuleSet, name: str, last_seen: datetime | None, state: HeartbeatState | None, now: datetime) -> tuple:
    spec = rules.heartbeat(name)
    assert spec is not None
    decision = decide_heartbeat(spec, rules, "", last_seen, state, now)
    results = [{"incident_id": "INC-ID", "incident_reference": "INC-1"} for _ in decision.actions]
    return decision, apply_heartbeat_results(decision.next_state, decision.actions, results)


# ---- the rules file ------------------------------------------------------------------------------


def test_bundled_rules_watch_alertmanagers_watchdog_and_still_suppress_it() -> None:
    rules = load_rules()
    assert "watchdog" in rules.rule_names
    watchdog = rules.heartbeat("alertmanager-watchdog")
    assert watchdog is not None and watchdog.kind == "interval" and watchdog.per_label == "cluster"
    assert watchdog.on_missed.open_incident is not None


def test_durations_kinds_and_deadlines_are_read_from_yaml() -> None:
    rules = rules_with(
        "  - {name: a, interval: 1h30m, grace: 90}\n"
        "  - {name: b, deadline: '03:00', window: 6h}\n"
        "  - {name: c, cron: '30 2,14 * * MON-FRI'}\n"
    )
    a, b, c = rules.heartbeats
    assert (a.kind, a.interval, a.grace) == ("interval", timedelta(hours=1, minutes=30), timedelta(seconds=90))
    assert (b.kind, b.deadlines(), b.window) == ("window", DailyDeadlines(times=((3, 0),)), timedelta(hours=6))
    assert c.deadlines() == DailyDeadlines(times=((2, 30), (14, 30)), weekdays=(1, 2, 3, 4, 5))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a}", "needs a positive interval"),
        ("{name: a, kind: interval, interval: 5m, deadline: '03:00'}", "belong to window heartbeats"),
        ("{name: a, interval: 5m, deadline: '03:00'}", "interval belongs to interval heartbeats"),
        ("{name: a, cron: '0 3 * * Mondays'}", "names (MON)"),
        ("{name: a, deadline: '3am'}", "give HH:MM"),
        ("{name: a, cron: '0 3 1 * *'}", "day of month and month must be *"),
        ("{name: a, cron: '*/5 3 * * *'}", "use numbers, lists (a,b) and ranges (a-b)"),
        ("{name: a, interval: soon}", "not a duration"),
        ("{name: 'a/b', interval: 5m}", "should match pattern"),
        ("{name: a, interval: 5m, on_missed: {}}", "give open_incident, alert_event or both"),
        ("{name: a, interval: 5m, typo: 1}", "Extra inputs are not permitted"),
    ],
)
def test_a_wrong_heartbeat_is_refused_with_its_line(entry: str, message: str) -> None:
    with pytest.raises(RulesError) as refused:
        parse_rules(f"version: 1\nheartbeats:\n  - {entry}\n")
    assert message in str(refused.value) and "rules:3:" in str(refused.value)


def test_heartbeat_names_are_unique() -> None:
    with pytest.raises(RulesError, match="repeated: \\['a'\\]"):
        rules_with("  - {name: a, interval: 5m}\n  - {name: a, interval: 1m}\n")


# ---- interval heartbeats ---------------------------------------------------------------------------


def test_an_interval_heartbeat_that_stops_opens_one_incident_and_resolves_when_pings_resume() -> None:
    rules = interval_rules()
    last = T0
    decision, state = step(rules, "cron-job", last, None, T0 + timedelta(minutes=6))
    assert decision.actions == [] and not state.missed  # 5m + 1m grace: exactly on time is still fine

    decision, state = step(rules, "cron-job", last, state, T0 + timedelta(minutes=6, seconds=1))
    [opened] = decision.actions
    assert isinstance(opened, OpenIncident) and opened.generation == 1
    assert opened.name == "Heartbeat cron-job missed" and "last ping 2026-11-25T12:00:00Z" in opened.summary
    assert opened.severity_name == "Critical"
    assert state.missed and state.incident_open and state.incident_id == "INC-ID"

    for minutes in (7, 30, 600):  # every later run while it stays silent: nothing more
        again, same = step(rules, "cron-job", last, state, T0 + timedelta(minutes=minutes))
        assert again.actions == [] and same == state

    decision, state = step(rules, "cron-job", T0 + timedelta(minutes=61), state, T0 + timedelta(minutes=61))
    [resolved] = decision.actions
    assert isinstance(resolved, ResolveIncident) and resolved.close and resolved.incident_id == "INC-ID"
    assert resolved.action_key == f"resolve_incident#{state.state_id}#1"
    assert not state.missed and not state.incident_open

    decision, state = step(rules, "cron-job", T0 + timedelta(minutes=61), state, T0 + timedelta(minutes=70))
    [reopened] = decision.actions
    assert isinstance(reopened, OpenIncident) and reopened.generation == 2  # a new episode, a new incident
    assert reopened.action_key != opened.action_key


def test_a_heartbeat_that_never_pings_is_watched_from_first_sight() -> None:
    rules = interval_rules()
    decision, state = step(rules, "cron-job", None, None, T0)
    assert decision.actions == [] and state.watching_since == T0
    decision, state = step(rules, "cron-job", None, state, T0 + timedelta(minutes=6))
    assert decision.actions == []
    decision, state = step(rules, "cron-job", None, state, T0 + timedelta(minutes=7))
    assert [a.kind for a in decision.actions] == ["open_incident"]
    assert "no ping since watching began" in decision.actions[0].summary  # type: ignore[union-attr]


def test_alert_event_heartbeats_fire_and_resolve_one_alert_per_episode() -> None:
    rules = rules_with(
        "  - name: job\n    interval: 1m\n    on_missed:\n"
        "      alert_event: {alert_source_config_id: src, title: 'Silent: {{ labels.heartbeat }}'}\n"
    )
    decision, state = step(rules, "job", T0, None, T0 + timedelta(minutes=2))
    [firing] = decision.actions
    assert isinstance(firing, SendAlertEvent) and firing.status == "firing" and firing.title == "Silent: job"
    decision, state = step(rules, "job", T0 + timedelta(minutes=3), state, T0 + timedelta(minutes=3))
    [resolved] = decision.actions
    assert isinstance(resolved, SendAlertEvent) and resolved.status == "resolved"
    assert resolved.deduplication_key == firing.deduplication_key and resolved.action_key != firing.action_key


def test_templates_see_the_heartbeat_and_its_instance() -> None:
    rules = rules_with(
        "  - name: watchdog\n    interval: 5m\n    per_label: cluster\n    on_missed:\n"
        "      open_incident: {name: 'No Watchdog from {{ labels.cluster }}', severity: Major}\n"
    )
    spec = rules.heartbeats[0]
    decision = decide_heartbeat(
        spec, rules, "eu-1", T0, HeartbeatState(name="watchdog", instance="eu-1"), T0 + timedelta(hours=1)
    )
    [opened] = decision.actions
    assert isinstance(opened, OpenIncident)
    assert opened.name == "No Watchdog from eu-1" and opened.severity_name == "Major"


def test_each_instance_is_its_own_heartbeat() -> None:
    rules = rules_with("  - {name: watchdog, interval: 5m, per_label: cluster}\n")
    spec = rules.heartbeats[0]
    now = T0 + timedelta(minutes=10)
    pings = {"eu-1": now - timedelta(minutes=1), "us-1": T0}
    instances = instances_to_check(spec, pings, {})
    assert instances == pings
    verdicts = {
        instance: decide_heartbeat(spec, rules, instance, seen, None, now) for instance, seen in instances.items()
    }
    assert verdicts["eu-1"].actions == []
    [opened] = verdicts["us-1"].actions
    assert isinstance(opened, OpenIncident) and "us-1" in opened.name
    assert opened.group_id != HeartbeatState(name="watchdog", instance="eu-1").state_id

    plain = rules_with("  - {name: watchdog, interval: 5m}\n").heartbeats[0]
    assert instances_to_check(plain, pings, {}) == {"": now - timedelta(minutes=1)}  # any ping keeps it alive


def test_declared_instances_are_watched_before_their_first_ping() -> None:
    rules = rules_with("  - {name: watchdog, interval: 5m, per_label: cluster, instances: [eu-1, us-1]}\n")
    spec = rules.heartbeats[0]
    assert instances_to_check(spec, {}, {}) == {"eu-1": None, "us-1": None}
    assert instances_to_check(spec, {"ap-1": T0}, {}) == {"ap-1": T0, "eu-1": None, "us-1": None}  # and learnt ones
    first = decide_heartbeat(spec, rules, "eu-1", None, None, T0)
    assert first.actions == [] and first.next_state.watching_since == T0
    assert decide_heartbeat(spec, rules, "eu-1", None, first.next_state, T0 + timedelta(minutes=5)).actions == []
    [opened] = decide_heartbeat(
        spec, rules, "eu-1", None, first.next_state, T0 + timedelta(minutes=5, seconds=1)
    ).actions
    assert isinstance(opened, OpenIncident) and "eu-1" in opened.name


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a, interval: 5m, instances: [eu-1]}", "give per_label too"),
        ("{name: a, interval: 5m, per_label: c, instances: [eu-1, ' eu-1']}", "repeated: ['eu-1']"),
        ("{name: a, interval: 5m, per_label: c, instances: ['']}", "at least 1 character"),
    ],
)
def test_declared_instances_need_per_label_and_are_unique(entry: str, message: str) -> None:
    with pytest.raises(RulesError) as refused:
        rules_with(f"  - {entry}\n")
    assert message in str(refused.value)


def test_a_new_ping_is_forwarded_once() -> None:
    rules = rules_with("  - {name: job, interval: 5m, forward_to: hb-source}\n")
    spec = rules.heartbeats[0]
    decision = decide_heartbeat(spec, rules, "", T0, None, T0 + timedelta(minutes=1))
    assert decision.forward is not None and decision.forward.alert_source_config_id == "hb-source"
    state = decision.next_state.model_copy(update={"forwarded_through": T0})
    assert decide_heartbeat(spec, rules, "", T0, state, T0 + timedelta(minutes=2)).forward is None


# ---- window heartbeats -----------------------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_deadlines_daily_and_on_weekdays() -> None:
    daily = DailyDeadlines.daily("03:00")
    assert latest_deadline(daily, at(25, 2, 59)) == at(24, 3)
    assert latest_deadline(daily, at(25, 3)) == at(25, 3)
    weekdays = DailyDeadlines.cron("0 3 * * 1-5")
    assert latest_deadline(weekdays, at(29, 12)) == at(27, 3)  # Sunday → Friday's
    assert previous_deadline(weekdays, at(30, 3)) == at(27, 3)  # Monday's window opened on Friday


def test_a_window_heartbeat_must_ping_by_its_deadline() -> None:
    rules = rules_with("  - {name: backup, deadline: '03:00', grace: 15m}\n")
    spec = rules.heartbeats[0]
    on_time = at(25, 2, 10)
    assert evaluate(spec, on_time, None, at(25, 3, 16)).healthy
    assert evaluate(spec, on_time, None, at(26, 3, 14)).healthy  # tomorrow's grace has not passed yet
    assert not evaluate(spec, on_time, None, at(26, 3, 16)).healthy

    missing, state = step(rules, "backup", at(24, 2, 10), None, at(25, 3, 14))
    assert missing.actions == []
    missing, state = step(rules, "backup", at(24, 2, 10), state, at(25, 3, 16))
    [opened] = missing.actions
    assert isinstance(opened, OpenIncident) and "window 2026-11-24T03:00:00Z → 2026-11-25T03:00:00Z" in opened.summary
    quiet, state = step(rules, "backup", at(24, 2, 10), state, at(26, 4))  # still silent a day later: same episode
    assert quiet.actions == [] and state.generation == 1
    late, state = step(rules, "backup", at(26, 5), state, at(26, 5, 1))
    assert [a.kind for a in late.actions] == ["resolve_incident"]


def test_a_window_limits_how_early_a_ping_counts() -> None:
    spec = rules_with("  - {name: backup, deadline: '03:00', window: 4h}\n").heartbeats[0]
    assert evaluate(spec, at(24, 23, 30), None, at(25, 3, 1)).healthy
    assert not evaluate(spec, at(24, 22, 30), None, at(25, 3, 1)).healthy  # ran before the window opened


def test_a_never_pinged_window_heartbeat_is_judged_only_on_a_whole_window() -> None:
    spec = rules_with("  - {name: backup, deadline: '03:00'}\n").heartbeats[0]
    assert evaluate(spec, None, at(24, 12), at(25, 3, 1)).healthy  # watching began mid-window
    assert not evaluate(spec, None, at(24, 12), at(26, 3, 1)).healthy
