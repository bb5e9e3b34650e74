"""Named regressions of issue 13's defects 1–5, each an ordinary sequence that left a wrong end state: the use
cases on in-memory ports (tests/fakes.py). The model-based test (test_end_state_model.py) looks for more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.errors import ActionBusy, PermanentFailure
from alert_courier.domain.rules import parse_rules
from tests.fakes import Crash, DrivenClock, InMemoryLedger, SimulatedIncidentTools, World

PAYMENTS_PATH = "01HR716FJW92V81E5128Q6RW31"
GRACE = "01HR716BWNFMGT83PXT891WB09"
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BY_SEVERITY = parse_rules(f"""
rules:
  - name: page-critical
    match: {{severity: critical}}
    actions:
      - open_incident
      - escalate: {{escalation_path_id: {PAYMENTS_PATH}}}
  - name: ticket-the-rest
    actions: [open_incident]
""")
PAGING = parse_rules(f"""
rules:
  - name: acknowledgements
    match: {{status: acknowledged}}
    actions: [acknowledge]
  - name: payments
    actions:
      - open_incident
      - escalate: {{escalation_path_id: {PAYMENTS_PATH}}}
      - escalate: {{user_ids: [{GRACE}], after_minutes: 15}}
""")


def alert(
    status: str,
    *,
    key: str = "cpu-high",
    severity: Severity = Severity.CRITICAL,
    started: datetime | None = None,
    ended: datetime | None = None,
    source: str = "generic",
) -> AlertEnvelope:
    return AlertEnvelope(
        alert=Alert(
            source=source,
            dedup_key=key,
            group_key=key,
            status=AlertStatus(status),
            severity=severity,
            title=f"{key} ({severity.value})",
            started_at=started,
            ended_at=ended,
            received_at=T0,
        ),
        correlation_id="regression",
    )


def incidents(world: World) -> list[dict[str, Any]]:
    return world.incidents()


def test_defect_1_a_severity_upgrade_raises_the_incident_and_runs_the_rule_that_pages() -> None:
    world = World(BY_SEVERITY, clock=DrivenClock(T0))
    world.courier.handle(alert("firing", severity=Severity.WARNING))
    [incident] = incidents(world)
    assert incident["severity"]["name"] == "Minor" and world.simulator_state().escalations == {}
    world.courier.handle(alert("firing", severity=Severity.CRITICAL))  # same dedup key, now critical
    [incident] = incidents(world)
    assert incident["severity"]["name"] == "Critical"
    assert len(world.simulator_state().escalations) == 1  # the critical rule's page went out, once
    world.courier.handle(alert("firing", severity=Severity.CRITICAL))  # a repeat changes nothing more
    world.courier.handle(alert("firing", severity=Severity.WARNING))  # nor does a downgrade (README "Severity")
    assert len(world.simulator_state().escalations) == 1 and incidents(world)[0]["severity"]["name"] == "Critical"
    world.courier.handle(alert("resolved"))
    assert incidents(world)[0]["incident_status"]["category"] == "closed"


def test_defect_2_what_succeeded_before_a_permanent_failure_is_remembered() -> None:
    world = World(PAGING, clock=DrivenClock(T0))
    world.tools.script("escalation_create", "permanent")
    firing = alert("firing", started=T0)
    with pytest.raises(PermanentFailure):  # dead-lettered: the incident was opened, the page was refused
        world.courier.handle(firing)
    world.courier.handle(alert("resolved", started=T0, ended=T0 + timedelta(minutes=5)))
    assert [i["incident_status"]["category"] for i in incidents(world)] == ["closed"]
    world.courier.handle(firing)  # the DLQ replay of the firing: stale now, no page for a resolved group
    assert [i["incident_status"]["category"] for i in incidents(world)] == ["closed"]
    assert world.simulator_state().escalations == {}


def test_defect_2_a_replay_while_still_firing_does_what_was_left_undone() -> None:
    world = World(PAGING, clock=DrivenClock(T0))
    world.tools.script("escalation_create", "permanent")
    firing = alert("firing", started=T0)
    with pytest.raises(PermanentFailure):
        world.courier.handle(firing)
    world.courier.handle(firing)  # replayed once the escalation path is fixed
    assert len(incidents(world)) == 1 and len(world.simulator_state().escalations) == 1


@pytest.mark.parametrize("source", ["cloudwatch", "datadog"])
def test_defect_3_a_resolve_that_overtakes_its_firing_leaves_nothing_open(source: str) -> None:
    world = World(PAGING, clock=DrivenClock(T0))
    # OK at 10:05 (no start time: SNS and Datadog recoveries do not say which firing they end), then ALARM at 10:00
    world.courier.handle(alert("resolved", source=source, ended=T0 + timedelta(minutes=5)))
    world.courier.handle(alert("firing", source=source, started=T0))
    assert incidents(world) == [] and world.simulator_state().escalations == {}
    world.courier.handle(alert("firing", source=source, started=T0 + timedelta(minutes=6)))  # a real new firing
    assert len(incidents(world)) == 1


def test_defect_3_an_alertmanager_resolve_ending_before_it_started_still_closes() -> None:
    world = World(PAGING, clock=DrivenClock(T0))
    world.courier.handle(alert("firing", source="alertmanager", started=T0))
    skewed = alert("resolved", source="alertmanager", started=T0, ended=T0 - timedelta(seconds=30))
    world.courier.handle(skewed)
    assert [i["incident_status"]["category"] for i in incidents(world)] == ["closed"]


def test_defect_4_a_crash_between_the_side_effect_and_its_record_does_not_double_it() -> None:
    clock = DrivenClock(T0)
    world = World(
        parse_rules("rules: [{name: all, actions: [open_incident]}]"),
        clock=clock,
        tools=SimulatedIncidentTools(drop_arguments={"incident_create": ["idempotency_key"]}),
        ledger=InMemoryLedger(lease_seconds=90, clock=clock.epoch),
    )
    world.tools.script("incident_create", "crash")  # the incident is opened, then the worker dies
    firing = alert("firing", started=T0)
    with pytest.raises(Crash):
        world.courier.handle(firing)
    with pytest.raises(ActionBusy):  # redelivered while the dead worker's lease is live
        world.courier.handle(firing)
    clock.advance(seconds=91)
    result = world.courier.handle(firing)  # the lease expired: ambiguous, so incident.io is asked first
    assert len(incidents(world)) == 1 and result["results"][0]["found_by_recheck"]


def test_defect_5_a_refused_acknowledgement_does_not_cancel_the_later_levels() -> None:
    world = World(PAGING, clock=DrivenClock(T0), tools=SimulatedIncidentTools(refuse_respond=True))
    world.courier.handle(alert("firing", started=T0))
    world.clock.advance(minutes=2)
    world.courier.handle(alert("acknowledged", started=T0))  # incident.io refuses the service actor's ack
    [entry] = [e for *_, e in world.history.entries if e["status"] == "acknowledged"]
    assert entry["results"][0]["acknowledged"] is False
    world.clock.advance(minutes=14)
    assert world.scheduler.run().escalated == ["cpu-high level 1"]  # nobody acknowledged: the level pages
    assert len(world.simulator_state().escalations) == 2


def test_defect_6_a_late_copy_of_a_week_long_firing_does_not_open_a_second_incident() -> None:
    # Found by the model once it sent sender times over a week old: the resolution of a firing that started
    # eight days ago (a resolve with no end time is remembered by the firing's start) was forgotten the moment
    # it was recorded (memory counted from that start), so a late copy of the firing opened a second incident.
    world = World(BY_SEVERITY, clock=DrivenClock(T0 + timedelta(days=8)))
    started = T0
    world.courier.handle(alert("firing", started=started))
    world.courier.handle(alert("resolved", started=started))  # names the firing it ends, gives no end time
    world.clock.advance(minutes=3)
    world.courier.handle(alert("firing", started=started))  # Alertmanager re-sends the old firing, late
    assert [i["incident_status"]["category"] for i in incidents(world)] == ["closed"]
    world.clock.advance(days=22)  # past RESOLVED_MEMORY after the resolve its memory goes; a new firing is news
    world.courier.handle(alert("firing", started=T0 + timedelta(days=30)))
    assert len(incidents(world)) == 2
