"""The scheduled checks on in-memory ports with a driven clock: escalation levels, acknowledgements, heartbeats,
overlapping runs. The same checks on moto and the simulator over HTTP: tests/integration/test_scheduler.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.rules import parse_rules
from alert_courier.use_cases.run_report import RunReport
from tests.fakes import DrivenClock, World

PAYMENTS_PATH = "01HR716FJW92V81E5128Q6RW31"
GRACE = "01HR716BWNFMGT83PXT891WB09"
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
RULES = parse_rules(
    f"""
rules:
  - name: database
    match: {{labels: {{team: db}}}}
    actions:
      - open_incident
      - escalate: {{escalation_path_id: {PAYMENTS_PATH}}}
      - escalate: {{user_ids: [{GRACE}], after_minutes: 15}}
      - escalate: {{escalation_path_id: {PAYMENTS_PATH}, after_minutes: 30}}
heartbeats:
  - {{name: cron-job, interval: 5m, grace: 1m}}
"""
)


def world() -> World:
    return World(RULES, clock=DrivenClock(T0))


def at(subject: World, minutes: float) -> RunReport:
    subject.clock.now = T0 + timedelta(minutes=minutes)
    return subject.scheduler.run()


def db_alert(status: str = "firing") -> AlertEnvelope:
    alert = Alert(
        source="alertmanager",
        dedup_key="disk-full-db-1",
        group_key="db-group",
        status=AlertStatus(status),
        severity=Severity.CRITICAL,
        title="Disk full on db-1",
        labels={"team": "db"},
        started_at=T0,
    )
    return AlertEnvelope(alert=alert, correlation_id="test")


def pages(subject: World) -> list[dict[str, object]]:
    return [record.escalation for record in subject.simulator_state().escalations.values()]


def test_each_level_pages_once_when_due_and_repeated_runs_ask_nothing() -> None:
    subject = world()
    subject.courier.handle(db_alert())
    assert len(pages(subject)) == 1 and len(subject.states.timers) == 2
    assert [at(subject, minute).escalated for minute in (1, 14.9)] == [[], []]
    assert at(subject, 15).escalated == ["db-group level 1"]
    calls = len(subject.tools.calls)
    assert [at(subject, minute).escalated for minute in (15, 29.9)] == [[], []]
    assert len(subject.tools.calls) == calls  # not even a question to incident.io
    assert at(subject, 30).escalated == ["db-group level 2"]
    assert len(pages(subject)) == 3 and subject.states.timers == set()
    assert subject.telemetry.total("ScheduledEscalations") == 2


def test_an_acknowledged_page_cancels_the_later_levels() -> None:
    subject = world()
    subject.courier.handle(db_alert())
    [page] = pages(subject)
    subject.tools.simulator.call_tool("escalation_respond", {"id": page["id"]})  # a person acks in incident.io
    report = at(subject, 15)
    assert report.escalated == [] and report.cancelled == ["db-group"]
    assert [name for name, _ in subject.tools.calls][-1] == "escalation_show"  # page status, through the executor
    assert subject.telemetry.timings[-1][0::2] == ("ToolCallLatency", {"tool": "escalation_show"})  # same metrics
    assert len(pages(subject)) == 1 and subject.states.timers == set()


def test_two_overlapping_runs_page_each_level_once() -> None:
    subject = world()
    other = World(
        RULES,
        clock=subject.clock,
        tools=subject.tools,
        states=subject.states,
        history=subject.history,
        ledger=subject.ledger,
        alert_events=subject.alert_events,
    )
    subject.courier.handle(db_alert())
    subject.clock.now = T0 + timedelta(minutes=15)
    first, second = subject.scheduler.run(), other.scheduler.run()
    assert first.escalated + second.escalated == ["db-group level 1"]
    assert len(pages(subject)) == 2


def test_a_silent_heartbeat_opens_one_incident_and_resolves_when_pings_resume() -> None:
    subject = world()
    subject.heartbeats.record_ping("cron-job", "", T0, via="http")
    assert at(subject, 6).missed == []  # 5m interval + 1m grace: not yet
    assert at(subject, 6.1).missed == ["cron-job"]
    assert [at(subject, minute).missed for minute in (7, 60)] == [[], []]
    [incident] = [record.incident for record in subject.simulator_state().incidents.values()]
    assert incident["incident_status"]["category"] == "triage"
    subject.heartbeats.record_ping("cron-job", "", T0 + timedelta(minutes=61), via="http")
    assert at(subject, 61.5).recovered == ["cron-job"]
    [incident] = [record.incident for record in subject.simulator_state().incidents.values()]
    assert incident["incident_status"]["category"] == "closed"
    assert [entry["status"] for source, _, entry in subject.history.entries if source == "heartbeat"] == [
        "scheduled",
        "scheduled",
    ]


def test_a_per_label_heartbeat_whose_declared_instances_never_pinged_is_missed_after_its_first_interval() -> None:
    rules = "heartbeats: [{name: watchdog, interval: 10m, grace: 5m, per_label: cluster, instances: [eu-1, us-1]}]"
    subject = World(parse_rules(rules), clock=DrivenClock(T0))
    assert at(subject, 0).missed == []  # the scheduler starts watching eu-1 and us-1 now
    subject.heartbeats.record_ping("watchdog", "eu-1", T0 + timedelta(minutes=10), via="alert:alertmanager")
    assert at(subject, 15).missed == []  # 10m + 5m grace: us-1 is exactly on time
    report = at(subject, 15.1)
    assert report.missed == ["watchdog/us-1"]  # the Watchdog route of us-1 never worked: missed all the same
    assert any("us-1" in incident["name"] for incident in subject.incidents())
