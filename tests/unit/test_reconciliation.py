"""The reconcile pass on in-memory ports: a lost resolve closed from the monitoring system's truth, a rule's
stale_after, a person closing the incident, and the dry run printing what the real pass then does. CloudWatch
itself (moto): tests/integration/test_reconcile_cloudwatch.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.domain.actions import ResolveIncident
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.reconciliation import FINISH_AFTER, FINISH_UNFINISHED, Observation, finish_alert
from alert_courier.domain.rules import parse_rules
from tests.fakes import World

ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{}"
STARTED = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
PATH = "01HR716FJW92V81E5128Q6RW31"  # an escalation path of the simulator's organisation


class FakeCloudWatch:
    """What CloudWatch would answer, set by the test; counts what it was asked."""

    name = "CloudWatch"

    def __init__(self) -> None:
        self.states: dict[str, tuple[str, datetime]] = {}
        self.asked: list[list[str]] = []

    def covers(self, state: GroupState) -> bool:
        return state.source == "cloudwatch"

    def observe(self, states: list[GroupState]) -> dict[str, Observation]:
        keys = sorted({key for state in states for key in [*state.firing, *state.resolved_through]})
        self.asked.append(keys)
        seen = {}
        for key in keys:
            if key in self.states:
                value, at = self.states[key]
                seen[key] = Observation(key, value == "ALARM", at, f"CloudWatch says {value} at {at.isoformat()}")
        return seen


def cloudwatch(name: str, status: str = "firing", *, at: datetime = STARTED) -> AlertEnvelope:
    alert = Alert(
        source="cloudwatch",
        dedup_key=ARN.format(name),
        group_key=ARN.format(name),
        status=AlertStatus(status),
        severity=Severity.CRITICAL,
        title=f"alarm {name}",
        started_at=at if status == "firing" else None,
        ended_at=at if status == "resolved" else None,
        received_at=at,
    )
    return AlertEnvelope(alert=alert, correlation_id="corr")


def categories(world: World) -> list[str]:
    return [incident["incident_status"]["category"] for incident in world.incidents()]


def test_a_lost_ok_is_closed_from_cloudwatch_and_recorded_once() -> None:
    world = World(parse_rules("rules: [{name: all, actions: [open_incident]}]"))
    truth = FakeCloudWatch()
    world.courier.handle(cloudwatch("cpu"))
    world.courier.handle(cloudwatch("disk"))
    assert categories(world) == ["triage", "triage"]
    reconciler = world.reconciler([truth])
    assert reconciler.run().changes == []  # CloudWatch says nothing yet: nothing changes

    ok_at = STARTED + timedelta(minutes=30)
    truth.states[ARN.format("cpu")] = ("OK", ok_at)  # its OK notification was lost
    truth.states[ARN.format("disk")] = ("ALARM", STARTED)
    passed = reconciler.run()
    assert [(change.dedup_key, change.change, change.actions) for change in passed.changes] == [
        (ARN.format("cpu"), "resolve", ("resolve_incident",))
    ]
    assert sorted(categories(world)) == ["closed", "triage"]
    history = world.history.read("cloudwatch", ARN.format("cpu"))
    assert f"reconciled: CloudWatch says OK at {ok_at.isoformat()}" in history[-1]["reasons"]
    assert world.telemetry.total("Reconciled") == 1

    calls = len(world.tools.calls)
    assert reconciler.run().changes == []  # the next pass: the group is no longer held open
    world.courier.handle(cloudwatch("cpu", "resolved", at=ok_at))  # the lost OK arrives after all: nothing new
    assert len(world.tools.calls) == calls
    assert truth.asked[-1] == [ARN.format("disk")]  # only what we still hold open is asked about


def test_insufficient_data_resolves_and_alarm_again_fires_again() -> None:
    world = World(parse_rules("rules: [{name: all, actions: [open_incident]}]"))
    truth = FakeCloudWatch()
    world.courier.handle(
        AlertEnvelope(alert=cloudwatch("a").alert.model_copy(update={"group_key": "g"}), correlation_id="c")
    )
    world.courier.handle(
        AlertEnvelope(alert=cloudwatch("b").alert.model_copy(update={"group_key": "g"}), correlation_id="c")
    )
    truth.states[ARN.format("a")] = ("INSUFFICIENT_DATA", STARTED + timedelta(minutes=5))
    truth.states[ARN.format("b")] = ("ALARM", STARTED)
    changes = world.reconciler([truth]).run().changes
    assert [(change.change, change.actions) for change in changes] == [("resolve", ())]  # b still fires: stays open
    assert categories(world) == ["triage"]

    truth.states[ARN.format("a")] = ("ALARM", STARTED + timedelta(minutes=20))  # its ALARM notification was lost
    changes = world.reconciler([truth]).run().changes
    assert [(change.dedup_key, change.change) for change in changes] == [(ARN.format("a"), "fire")]
    state = next(iter(world.states.states.values()))
    assert sorted(state.firing) == [ARN.format("a"), ARN.format("b")] and categories(world) == ["triage"]


def test_stale_after_resolves_what_the_sender_stopped_resending_or_posts_no_news() -> None:
    for on_stale, expected in (("resolve", "closed"), ("update", "triage")):
        rules = parse_rules(f"rules: [{{name: r, stale_after: 3h, on_stale: {on_stale}, actions: [open_incident]}}]")
        world = World(rules)
        world.clock.advance(hours=-1)
        first = world.clock()
        alert = cloudwatch("x").alert.model_copy(update={"source": "generic", "received_at": first})
        world.courier.handle(AlertEnvelope(alert=alert, correlation_id="c"))
        world.clock.advance(hours=2)
        resend = alert.model_copy(update={"received_at": world.clock()})
        world.courier.handle(AlertEnvelope(alert=resend, correlation_id="c"))  # re-sent while firing: news
        world.clock.advance(hours=2, minutes=59)
        assert world.reconciler().run().changes == []  # 2h59m since it was last re-sent
        world.clock.advance(minutes=2)
        changes = world.reconciler().run().changes
        assert [change.change for change in changes] == ["resolve"], on_stale
        assert changes[0].says.startswith(f"no news since {resend.received_at.isoformat()}")
        assert categories(world) == [expected], on_stale
        summary = world.incidents()[0]["summary"]
        assert ("No news from the sender" in summary) is (on_stale == "update")


def test_the_dry_run_prints_exactly_what_the_real_pass_then_does() -> None:
    world = World(parse_rules("rules: [{name: all, stale_after: 1h, actions: [open_incident]}]"))
    truth = FakeCloudWatch()
    for name in ("a", "b", "c"):
        world.courier.handle(
            cloudwatch(name).model_copy(
                update={"alert": cloudwatch(name).alert.model_copy(update={"received_at": world.clock()})}
            )
        )
    truth.states[ARN.format("a")] = ("OK", STARTED + timedelta(minutes=1))
    truth.states[ARN.format("b")] = ("ALARM", STARTED)
    world.clock.advance(hours=2)  # b and c are also stale; b's truth comes first (CloudWatch knows better)
    calls = len(world.tools.calls)
    planned = world.reconciler([truth]).plan()
    assert len(world.tools.calls) == calls and all(s.version for s in world.states.states.values())
    done = world.reconciler([truth]).run()
    assert [change.line() for change in planned.changes] == [change.line() for change in done.changes]
    assert len(done.changes) == 2 and {c.change for c in done.changes} == {"resolve"}
    assert sorted(categories(world)) == ["closed", "closed", "triage"]


def paging_world() -> World:
    rules = parse_rules(
        f"""
rules:
  - name: page
    actions:
      - open_incident
      - escalate: {{escalation_path_id: {PATH}}}
      - escalate: {{escalation_path_id: {PATH}, after_minutes: 10}}
"""
    )
    return World(rules)


class ClosedIncidents:
    def __init__(self, closed: dict[str, str]) -> None:
        self.closed = closed
        self.asked: list[list[str]] = []

    def closed_by_others(self, incident_ids: list[str]) -> dict[str, str]:
        self.asked.append(incident_ids)
        return {incident: says for incident, says in self.closed.items() if incident in incident_ids}


def test_a_person_closing_the_incident_stops_later_levels_and_a_new_firing_opens_a_new_incident() -> None:
    world = paging_world()
    world.courier.handle(cloudwatch("a"))
    state = next(iter(world.states.states.values()))
    assert state.pending_escalations and state.incident_id
    statuses = ClosedIncidents({state.incident_id: "incident.io says INC-1 is Closed"})
    planned = world.reconciler(incidents=statuses).plan()
    changes = world.reconciler(incidents=statuses).run().changes
    assert [change.line() for change in planned.changes] == [change.line() for change in changes]
    assert [change.change for change in changes] == ["closed_by_human"]
    calls = len(world.tools.calls)
    world.clock.advance(minutes=15)
    world.scheduler.run()  # level 1 would be due now
    world.courier.handle(cloudwatch("a"))  # a re-send of the same firing: stale
    assert len(world.tools.calls) == calls
    world.courier.handle(cloudwatch("a", at=STARTED + timedelta(hours=1)))  # a new firing: a new incident
    assert len(world.incidents()) == 2
    history: list[dict[str, Any]] = world.history.read("cloudwatch", ARN.format("a"))
    assert any("closed by a person" in " ".join(entry["reasons"]) for entry in history)


def test_stay_closed_keeps_the_group_quiet_until_it_resolves() -> None:
    world = World(parse_rules("rules: [{name: r, after_human_close: stay_closed, actions: [open_incident]}]"))
    world.courier.handle(cloudwatch("a"))
    incident_id = next(iter(world.states.states.values())).incident_id or ""
    world.reconciler(incidents=ClosedIncidents({incident_id: "closed"})).run()
    world.courier.handle(cloudwatch("a", at=STARTED + timedelta(hours=1)))  # a newer firing: still the episode
    assert len(world.incidents()) == 1
    world.courier.handle(cloudwatch("a", "resolved", at=STARTED + timedelta(hours=2)))
    world.courier.handle(cloudwatch("a", at=STARTED + timedelta(hours=3)))  # quiet, then firing: new incident
    assert len(world.incidents()) == 2


def test_a_close_in_the_simulator_is_read_back_at_the_lowest_priority_and_stops_the_later_level() -> None:
    from alert_courier.domain.call_budget import Priority, current_priority
    from alert_courier.incident_io.incident_statuses import IncidentIoStatuses

    world = paging_world()
    world.courier.handle(cloudwatch("a"))
    world.courier.handle(cloudwatch("b").model_copy(update={"alert": cloudwatch("b").alert}))
    states = list(world.states.states.values())
    priorities: list[Priority] = []
    tools = world.tools

    class Watched:
        def input_schemas(self) -> Any:
            return tools.input_schemas()

        def read_resource(self, uri: str, **kwargs: Any) -> Any:
            return tools.read_resource(uri, **kwargs)

        def call_tool(self, name: str, arguments: dict[str, Any], **kwargs: Any) -> Any:
            priorities.append(current_priority())
            return tools.call_tool(name, arguments, **kwargs)

    statuses = IncidentIoStatuses(Watched())
    assert statuses.closed_by_others([s.incident_id or "" for s in states]) == {}
    reference = states[0].incident_reference or ""
    tools.simulator.close_incident_as_human(reference)  # a person closes INC-n in incident.io
    closed = statuses.closed_by_others([s.incident_id or "" for s in states])
    assert list(closed) == [states[0].incident_id] and closed[states[0].incident_id or ""].startswith(
        f"incident.io says {reference} is "
    )
    assert set(priorities) == {Priority.BACKGROUND}

    world.reconciler(incidents=statuses).run()
    pages = sum(1 for name, _ in world.tools.calls if name == "escalation_create")
    world.clock.advance(minutes=15)
    world.scheduler.run()  # level 1 is due for both groups: only the group nobody closed pages it
    per_page = pages // 2  # both groups paged their level 0 so far
    assert per_page and sum(1 for name, _ in world.tools.calls if name == "escalation_create") == pages + per_page
    closed_state = world.states.load(states[0].group_id)
    assert closed_state.closed_by_human_at is not None and not closed_state.pending_escalations
    assert world.states.load(states[1].group_id).incident_open


def test_a_change_the_pass_cannot_finish_goes_to_dispatchs_queue_and_is_done_from_there() -> None:
    world = World(parse_rules("rules: [{name: all, actions: [open_incident]}]"))
    truth = FakeCloudWatch()
    world.courier.handle(cloudwatch("cpu"))
    truth.states[ARN.format("cpu")] = ("OK", STARTED + timedelta(minutes=30))
    world.tools.script("incident_update", "transient")  # incident.io fails the resolve once
    queued: list[AlertEnvelope] = []
    changes = world.reconciler([truth], requeue=queued.append).run().changes
    assert [change.actions for change in changes] == [("queued for dispatch",)] and len(queued) == 1
    assert categories(world) == ["triage"]
    assert world.reconciler([truth], requeue=queued.append).run().changes == []  # the state says over: not again
    world.courier.handle(queued[0])  # dispatch's redelivery of it
    assert categories(world) == ["closed"]
    assert world.telemetry.total("ReconcileRequeued") == 1


def test_a_quiet_groups_leftovers_are_the_passs_to_finish_once_untouched_for_a_while() -> None:
    """Only a quiet group's (nothing firing, no incident it knows open), and only once nothing has changed it for
    FINISH_AFTER: before, a queued message (a redelivery, a change the pass handed to dispatch) may still carry
    them. The alert repeats the group's last resolve."""
    saved = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    resolve = ResolveIncident(group_id="g", generation=1, incident_id="", reason="resolved", summary="Recovered")
    state = GroupState(
        group_id="g",
        source="alertmanager",
        group_key="ops",
        generation=1,
        resolved_through={"old": "2026-12-03T08:00:00+00:00", "last": "2026-12-03T09:00:00+00:00"},
        resolved_at={"old": "2026-12-03T08:00:00+00:00", "last": "2026-12-03T09:50:00+00:00"},
        unfinished={"t": [resolve]},
        updated_at=saved,
    )
    assert finish_alert(state, saved + FINISH_AFTER - timedelta(seconds=1)) is None
    alert = finish_alert(state, saved + FINISH_AFTER)
    assert alert is not None and alert.raw[FINISH_UNFINISHED] and alert.status is AlertStatus.RESOLVED
    assert alert.dedup_key == "last" and alert.ended_at == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    later = saved + FINISH_AFTER
    assert finish_alert(state.model_copy(update={"firing": {"x": "2026-12-03T09:30:00+00:00"}}), later) is None
    assert finish_alert(state.model_copy(update={"incident_open": True}), later) is None
    assert finish_alert(state.model_copy(update={"unfinished": {}}), later) is None
