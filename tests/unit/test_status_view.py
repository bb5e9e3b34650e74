"""`alert-courier status`'s picture from stored records: which groups show, heartbeat deadlines, the text lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alert_courier.aws.dynamodb_stores import LiveState
from alert_courier.domain.alert import Severity
from alert_courier.domain.group_state import GroupState, PendingEscalation
from alert_courier.domain.heartbeat_decisions import HeartbeatState
from alert_courier.domain.rules import DailyDeadlines, RuleSet, load_rules
from alert_courier.operator_tools.status import build_status, format_status, next_deadline
from alert_courier.use_cases.ports import HeartbeatRecords

MISSED_US = {"name": "wd", "instance": "us", "missed": True, "incident_open": True, "incident_reference": "INC-3"}
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
DLQ = {"approximate_messages": 3, "in_flight": 1}


def rules(tmp_path: Path, text: str) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return load_rules(path)


def test_only_groups_with_something_live_show_with_their_levels_in_due_order() -> None:
    open_group = GroupState(
        group_id="g1",
        source="alertmanager",
        group_key="disk",
        incident_id="01X",
        incident_reference="INC-7",
        incident_open=True,
        opened_at=NOW - timedelta(minutes=90),
        firing={"a": "2026-11-25T10:00:00Z", "b": "2026-11-25T10:01:00Z"},
        episode_severity=Severity.CRITICAL,
        pending_escalations=[
            PendingEscalation(level=2, due_at=NOW + timedelta(minutes=30), user_ids=["U1"]),
            PendingEscalation(level=1, due_at=NOW - timedelta(minutes=1), escalation_path_id="P1"),
        ],
    )
    quiet = GroupState(group_id="g2", source="alertmanager", group_key="old", incident_reference="INC-1")
    suppressed = GroupState(group_id="g3", source="generic", group_key="job", firing={"j": "not a time"})
    document = build_status(LiveState(groups=[quiet, open_group, suppressed]), RuleSet(), DLQ, NOW)
    first, second = document["groups"]
    assert (first["group_key"], second["group_key"]) == ("disk", "job")
    assert first["age_seconds"] == 90 * 60 and first["alerts_firing"] == 2 and first["severity"] == "critical"
    assert [level["level"] for level in first["pending_escalations"]] == [1, 2]
    assert second["incident_reference"] is None and second["age_seconds"] is None
    lines = format_status(document).splitlines()
    assert lines[0].startswith("group       alertmanager disk  INC-7 (open)  critical  age 1h30m  2 firing")
    assert lines[1].startswith("escalation  alertmanager disk  level 1 due 2026-11-25T11:59:00Z (1m overdue)  path P1")
    assert "level 2 due 2026-11-25T12:30:00Z (in 30m)  users U1" in lines[2]
    assert "no incident" in lines[3] and "age unknown" in lines[3]
    assert lines[-1] == "dlq         3 message(s), 1 in flight (approximate)"


def test_interval_heartbeats_per_instance_declared_and_unknown(tmp_path: Path) -> None:
    ruleset = rules(
        tmp_path,
        "heartbeats:\n  - name: wd\n    interval: 10m\n    grace: 5m\n    per_label: cluster\n    instances: [never]\n",
    )
    stored = {
        "wd": HeartbeatRecords(
            {"eu": NOW - timedelta(minutes=5), "us": NOW - timedelta(minutes=20)},
            {"us": HeartbeatState.model_validate(MISSED_US)},
        ),
        "gone": HeartbeatRecords({"": NOW - timedelta(days=1)}, {}),
    }
    rows = {row["key"]: row for row in build_status(LiveState(heartbeats=stored), ruleset, DLQ, NOW)["heartbeats"]}
    assert rows["wd/eu"]["next_deadline"] == "2026-11-25T12:10:00Z" and rows["wd/eu"]["overdue"] is False
    assert rows["wd/us"]["missed"] is True and rows["wd/us"]["incident_reference"] == "INC-3"
    assert rows["wd/never"]["next_deadline"] is None and rows["wd/never"]["last_ping"] is None
    assert rows["gone"]["overdue"] is None and "no heartbeat named 'gone'" in rows["gone"]["reason"]
    text = format_status(build_status(LiveState(heartbeats=stored), ruleset, DLQ, NOW))
    assert "wd/us  last ping 2026-11-25T11:40:00Z  next deadline 2026-11-25T11:55:00Z  MISSED (INC-3)" in text
    assert "heartbeat   wd/never  last ping never  no deadline yet  not checked" in text


def test_window_heartbeats_show_the_next_deadline_once_the_last_was_met(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, "heartbeats:\n  - name: backup\n    deadline: '03:00'\n    window: 6h\n    grace: 15m\n")
    met = {"backup": HeartbeatRecords({"": datetime(2026, 11, 25, 2, 0, tzinfo=UTC)}, {})}
    [row] = build_status(LiveState(heartbeats=met), ruleset, DLQ, NOW)["heartbeats"]
    assert row["overdue"] is False and row["next_deadline"] == "2026-11-26T03:15:00Z"
    late = {"backup": HeartbeatRecords({"": datetime(2026, 11, 24, 2, 0, tzinfo=UTC)}, {})}
    [row] = build_status(LiveState(heartbeats=late), ruleset, DLQ, NOW)["heartbeats"]
    assert row["overdue"] is True and row["next_deadline"] == "2026-11-25T03:15:00Z"


def test_next_deadline_skips_days_the_cron_leaves_out() -> None:
    weekdays = DailyDeadlines.cron("0 3 * * 1-5")
    friday_night = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    assert next_deadline(weekdays, friday_night) == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # Monday
    assert next_deadline(weekdays, datetime(2026, 11, 30, 3, 0, tzinfo=UTC)) == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
