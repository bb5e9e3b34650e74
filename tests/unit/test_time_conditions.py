"""Time conditions in rules (`match: {time: {weekdays, hours, timezone}}`): zoneinfo, DST, the alert's own time,
routing out of hours, and what check-config says about bad ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.rules import RulesError, parse_rules, plan_for
from alert_courier.domain.time_conditions import TimeCondition
from alert_courier.operator_tools import cli
from alert_courier.operator_tools.rules_lint import lint

BERLIN_HOURS = TimeCondition.model_validate(
    {"weekdays": ["mon-fri", "sun"], "hours": "09:00-17:30", "timezone": "Europe/Berlin"}
)
ROUTING = parse_rules("""
rules:
  - name: business-hours
    match:
      labels: {team: payments}
      time: {weekdays: [mon-fri], hours: "09:00-17:30", timezone: Europe/Berlin}
    actions: [open_incident, {escalate: {escalation_path_id: P1}}]
  - name: out-of-hours
    match: {labels: {team: payments}}
    actions: [open_incident]
""")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def alert(started: str | None, received: str = "2026-12-02T12:00:00") -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key="k",
        group_key="g",
        status=AlertStatus.FIRING,
        title="t",
        labels={"team": "payments"},
        started_at=utc(started) if started else None,
        received_at=utc(received),
    )


def test_spring_forward_day_moves_business_hours_one_hour_earlier_in_utc() -> None:
    # Europe/Berlin goes from CET (+1) to CEST (+2) at 01:00 UTC on Sunday 2026-03-29.
    assert not BERLIN_HOURS.contains(utc("2026-03-28T07:30:00"))  # Sat: not a listed day
    assert BERLIN_HOURS.contains(utc("2026-03-29T07:30:00"))  # 09:30 CEST: a fixed +1 offset would say 08:30
    assert not BERLIN_HOURS.contains(utc("2026-03-29T06:59:00"))  # 08:59 CEST
    assert BERLIN_HOURS.contains(utc("2026-03-29T15:29:00"))  # 17:29 CEST
    assert not BERLIN_HOURS.contains(utc("2026-03-29T15:30:00"))  # 17:30 CEST: the end is exclusive
    assert BERLIN_HOURS.contains(utc("2026-03-27T16:29:00"))  # the Friday before, 17:29 CET
    assert not BERLIN_HOURS.contains(utc("2026-03-27T16:30:00"))


def test_the_skipped_hour_never_occurs_and_the_repeated_one_occurs_twice() -> None:
    night = TimeCondition.model_validate({"hours": "02:00-03:00", "timezone": "Europe/Berlin"})
    spring = [utc(f"2026-03-29T{hour:02d}:{minute:02d}:00") for hour in range(24) for minute in (0, 30)]
    assert [moment for moment in spring if night.contains(moment)] == []  # 02:00-03:00 local does not exist
    autumn = [utc(f"2026-10-25T{hour:02d}:{minute:02d}:00") for hour in range(24) for minute in (0, 30)]
    matched = [moment.strftime("%H:%M") for moment in autumn if night.contains(moment)]
    assert matched == ["00:00", "00:30", "01:00", "01:30"]  # 02:00-03:00 CEST, then 02:00-03:00 CET


def test_new_york_changes_on_another_day_than_berlin() -> None:
    new_york = TimeCondition.model_validate({"hours": "09:00-17:00", "timezone": "America/New_York"})
    assert new_york.contains(utc("2026-03-09T13:00:00"))  # 09:00 EDT (DST began on 03-08)
    assert not new_york.contains(utc("2026-03-06T13:00:00"))  # 08:00 EST the Friday before


def test_rules_route_differently_out_of_hours_at_the_alerts_own_time() -> None:
    in_hours = plan_for(alert("2026-12-02T10:00:00"), ROUTING)  # Wed 11:00 CET
    assert [m.rule for m in in_hours.matched] == ["business-hours"]
    assert "is within mon,tue,wed,thu,fri 09:00-17:30 Europe/Berlin" in in_hours.explanation[0]
    evening = plan_for(alert("2026-12-02T17:00:00"), ROUTING)  # Wed 18:00 CET
    assert [m.rule for m in evening.matched] == ["out-of-hours"]
    weekend = plan_for(alert("2026-12-05T10:00:00"), ROUTING)  # Saturday
    assert [m.rule for m in weekend.matched] == ["out-of-hours"]


def test_sender_time_decides_not_arrival_and_arrival_when_the_sender_gives_none() -> None:
    # Started at 17:20 CET, delivered (retried, replayed) at 19:00: still the in-hours rule, every time.
    late = alert("2026-12-02T16:20:00", received="2026-12-02T18:00:00")
    assert [m.rule for m in plan_for(late, ROUTING).matched] == ["business-hours"]
    no_start = alert(None, received="2026-12-02T18:00:00")
    assert [m.rule for m in plan_for(no_start, ROUTING).matched] == ["out-of-hours"]


@pytest.mark.parametrize(
    ("time", "message"),
    [
        ("{timezone: Mars/Olympus}", "unknown time zone 'Mars/Olympus'"),
        ('{hours: "17:30-09:00"}', "ends before it starts; a range over midnight is two ranges"),
        ('{hours: "9-17"}', "is not a time of day"),
        ('{hours: "08:00-24:30"}', "is not a time of day"),
        ("{weekdays: [mon-fry]}", "'fry' is not a weekday"),
        ("{weekdays: [fri-mon]}", "runs backwards"),
        ("{weekdays: []}", "weekdays is empty"),
        ("{wekdays: [mon]}", "Extra inputs are not permitted"),
    ],
)
def test_bad_time_conditions_are_refused_with_the_line(time: str, message: str) -> None:
    with pytest.raises(RulesError) as refused:
        parse_rules(f"rules:\n  - name: r\n    match: {{time: {time}}}\n    actions: [open_incident]\n")
    assert "rules:3: rules.0.match.time" in str(refused.value)
    assert message in str(refused.value)


def test_alertmanager_spellings_and_several_ranges() -> None:
    condition = TimeCondition.model_validate(
        {"weekdays": ["monday:wednesday", "Fri"], "hours": ["08:00-12:00", "13:00-24:00"]}
    )
    assert condition.weekdays == (0, 1, 2, 4)
    assert condition.contains(utc("2026-12-04T23:59:00"))  # Friday, 23:59 UTC
    assert not condition.contains(utc("2026-12-03T10:00:00"))  # Thursday
    assert not condition.contains(utc("2026-12-02T12:30:00"))  # lunch


def test_lint_warns_about_time_conditions_that_say_nothing_or_overlap() -> None:
    text = """
rules:
  - name: always
    match: {labels: {a: b}, time: {timezone: Europe/Berlin}}
    actions: [open_incident]
  - name: overlapping
    match: {time: {hours: ["09:00-12:00", "11:00-13:00"]}}
    actions: [open_incident]
"""
    findings = [(f.level, f.text) for f in lint(parse_rules(text), text, frozenset({"alertmanager"}))]
    assert ("warning", "rule 'always': time matches every day at every hour: leave it out") in findings
    assert any(level == "warning" and "'overlapping': time hours overlap" in t for level, t in findings)


def test_a_rule_with_only_a_time_condition_is_not_a_catch_all() -> None:
    text = "rules:\n  - {name: hours, match: {time: {hours: '09:00-17:00'}}, actions: [open_incident]}\n"
    text += "  - {name: rest, actions: [open_incident]}\n"
    assert [f for f in lint(parse_rules(text), text, frozenset()) if "can never match" in f.text] == []


def test_check_config_names_a_bad_timezone_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: r\n    match:\n      time: {timezone: Europe/Berlinn}\n    actions: [open_incident]\n"
    )
    assert cli.main(["check-config", str(rules)]) == 1
    out = capsys.readouterr()
    assert "rules.yaml:4" in out.out + out.err and "unknown time zone 'Europe/Berlinn'" in out.out + out.err
