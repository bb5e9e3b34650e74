"""The scheduled checks against the incident.io simulator over real HTTP, with DynamoDB and Secrets Manager in moto.

Each test gets its own table, secrets and a reset simulator; time is a fake clock moved by the test (nobody sleeps
for minutes). moto is the local stack's server, which applies DynamoDB conditional writes one at a time as AWS
does, so the concurrency tests see real claim and optimistic-lock behaviour.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from alert_courier.aws.alert_source_tokens import AlertSourceTokens
from alert_courier.aws.api_key import ApiKeySource
from alert_courier.aws.dynamodb_stores import (
    ActionLedger,
    DecisionHistory,
    EscalationTimers,
    GroupStateStore,
    HeartbeatStore,
)
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.errors import StaleState
from alert_courier.domain.escalation_timers import TIMER_PK
from alert_courier.domain.group_state import GroupState, PendingEscalation, state_id_for
from alert_courier.domain.rules import RuleSet, parse_rules
from alert_courier.incident_io.alert_events import IncidentIoRest
from alert_courier.incident_io.mcp_client import IncidentIoMcp
from alert_courier.ingress.heartbeat_pings import AlertPings
from alert_courier.use_cases.courier import Courier
from alert_courier.use_cases.run_report import RunReport
from alert_courier.use_cases.scheduler import Scheduler
from alert_courier.wiring import runner_on, scheduler_with
from alert_courier_local.simulator import (
    DEFAULT_ALERT_SOURCE_ID,
    DEFAULT_ALERT_SOURCE_TOKEN,
    DEFAULT_HEARTBEAT_SOURCE_ID,
    RunningSimulator,
    start_simulator,
)

API_KEY = "scheduler-test-api-key"
PAYMENTS_PATH = "01HR716FJW92V81E5128Q6RW31"
GRACE = "01HR716BWNFMGT83PXT891WB09"
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a Wednesday, an hour before the backup's deadline
RULES = f"""
rules:
  - name: acknowledgements
    match: {{status: acknowledged}}
    actions: [acknowledge]
  - name: database
    match: {{labels: {{team: db}}}}
    actions:
      - open_incident: {{per: group, name: "[db] {{{{ alert.title }}}}"}}
      - escalate: {{escalation_path_id: {PAYMENTS_PATH}}}
      - escalate: {{user_ids: [{GRACE}], after_minutes: 15, title: "Still unacknowledged: {{{{ alert.title }}}}"}}
      - escalate: {{escalation_path_id: {PAYMENTS_PATH}, after_minutes: 30}}
heartbeats:
  - {{name: cron-job, interval: 5m, grace: 1m}}
  - {{name: backup, deadline: "03:00", grace: 15m}}
  - name: watchdog
    interval: 10m
    per_label: cluster
    match: {{labels: {{alertname: Watchdog}}}}
    on_missed:
      open_incident: {{name: "No Watchdog from {{{{ labels.cluster }}}}"}}
  - name: relayed
    interval: 5m
    forward_to: {DEFAULT_HEARTBEAT_SOURCE_ID}
    on_missed:
      alert_event: {{alert_source_config_id: {DEFAULT_ALERT_SOURCE_ID}}}
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> Clock:
        self.now = T0 + timedelta(minutes=minutes)
        return self


@dataclass
class World:
    sim: RunningSimulator
    table: Any
    clock: Clock
    rules: RuleSet
    mcp: IncidentIoMcp
    courier: Courier
    scheduler: Scheduler
    heartbeats: HeartbeatStore
    groups: GroupStateStore
    secret: str
    prefix: str
    clients: list[IncidentIoMcp]

    def only(self, *heartbeats: str) -> World:
        """Watch only these heartbeats (the rules' alert routing stays)."""
        chosen = [spec for spec in parse_rules(RULES).heartbeats if spec.name in heartbeats]
        self.rules = self.rules.model_copy(update={"heartbeats": chosen})
        return self

    def current_rules(self) -> RuleSet:
        return self.rules

    def another_scheduler(self) -> Scheduler:
        """A second 'container': its own MCP connection and courier; the same table and incident.io."""
        mcp = IncidentIoMcp(self.sim.mcp_url, ApiKeySource(self.secret), call_timeout_seconds=10)
        self.clients.append(mcp)
        return build(self.sim, self.table, mcp, self.current_rules, self.clock, self.prefix)[1]

    def run(self, minutes: float) -> RunReport:
        self.clock.at(minutes)
        return self.scheduler.run()

    def ping(self, name: str, minutes: float, instance: str = "") -> None:
        self.heartbeats.record_ping(name, instance, T0 + timedelta(minutes=minutes), via="http")

    def dispatch(self, alert: Alert, minutes: float) -> dict[str, Any]:
        self.clock.at(minutes)
        return self.courier.handle(AlertEnvelope(alert=alert, correlation_id="test"))

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.sim.url}/_sim/state", timeout=10).json()

    def tool_calls(self) -> dict[str, int]:
        return dict(self.sim.simulator.stats_snapshot()["tool_calls"])

    def timers(self) -> list[str]:
        items = self.table.query(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": TIMER_PK}, ConsistentRead=True
        )["Items"]
        return [str(item["sk"]) for item in items]


def build(
    sim: RunningSimulator, table: Any, mcp: IncidentIoMcp, rules: Callable[[], RuleSet], clock: Clock, prefix: str
) -> tuple[Courier, Scheduler, GroupStateStore]:
    """The scheduler Lambda's wiring (functions/scheduler/app.py), with the test's clock and simulator."""
    rest = IncidentIoRest(sim.url, AlertSourceTokens(prefix))
    groups = GroupStateStore(table)
    history = DecisionHistory(table)
    runner = runner_on(ActionLedger(table), mcp, rest)
    courier = Courier(groups, runner, history, rules, clock=clock)
    scheduler = scheduler_with(
        runner,
        groups=groups,
        timers=EscalationTimers(table),
        heartbeats=HeartbeatStore(table),
        history=history,
        rules=rules,
        forwarder=rest,
        clock=clock,
    )
    return courier, scheduler, groups


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = start_simulator(port=0, api_keys={API_KEY})
    yield running
    running.stop()


@pytest.fixture
def world(local_stack: Any, sim: RunningSimulator) -> Iterator[World]:
    httpx.post(f"{sim.url}/_sim/reset", timeout=10).raise_for_status()
    tag = uuid.uuid4().hex[:10]
    endpoint = local_stack.aws.endpoint_url
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    table_name = f"scheduler-test-{tag}"
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    secrets = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    secret, prefix = f"scheduler-test/{tag}/api-key", f"scheduler-test/{tag}/alert-sources/"
    secrets.create_secret(Name=secret, SecretString=API_KEY)
    for source in (DEFAULT_ALERT_SOURCE_ID, DEFAULT_HEARTBEAT_SOURCE_ID):
        secrets.create_secret(Name=prefix + source, SecretString=json.dumps({"current": DEFAULT_ALERT_SOURCE_TOKEN}))
    table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1").Table(table_name)
    clock = Clock(T0)
    mcp = IncidentIoMcp(sim.mcp_url, ApiKeySource(secret), call_timeout_seconds=10)
    holder: list[World] = []
    courier, scheduler, groups = build(sim, table, mcp, lambda: holder[0].rules, clock, prefix)
    world = World(
        sim,
        table,
        clock,
        parse_rules(RULES),
        mcp,
        courier,
        scheduler,
        HeartbeatStore(table),
        groups,
        secret,
        prefix,
        [mcp],
    )
    holder.append(world)
    yield world
    for client in world.clients:
        close = getattr(client, "close", None)  # newer clients stop their loop thread
        if close:
            close()
    dynamodb.delete_table(TableName=table_name)


def incidents(world: World, marker: str) -> list[dict[str, Any]]:
    return [i for i in world.state()["incidents"] if marker in i["name"]]


def db_alert(status: str = "firing", key: str = "disk-db-1") -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key=key,
        group_key="db-group",
        status=AlertStatus(status),
        severity=Severity.CRITICAL,
        title="Disk full on db-1",
        labels={"team": "db", "alertname": "DiskFull"},
        started_at=T0,
    )


# ---- heartbeats ------------------------------------------------------------------------------------


def test_a_heartbeat_that_stops_opens_exactly_one_incident_and_resolves_when_pings_resume(world: World) -> None:
    world.only("cron-job")
    for minute in range(0, 20, 4):  # a cron job pinging every 4 minutes, checked every minute
        world.ping("cron-job", minute)
        assert world.run(minute + 0.5).missed == []
    last_ping = 16
    assert world.run(last_ping + 6).missed == []  # 5m interval + 1m grace: not yet
    before = world.tool_calls()
    report = world.run(last_ping + 6.1)
    assert report.missed == ["cron-job"]
    [incident] = incidents(world, "Heartbeat cron-job missed")
    assert incident["status_category"] == "triage"
    assert world.tool_calls().get("incident_create", 0) == before.get("incident_create", 0) + 1

    quiet = world.tool_calls()
    for minute in (23, 24, 30, 90, 600):  # every later run while it stays silent: nothing further
        report = world.run(minute)
        assert report.missed == [] and report.recovered == [] and report.errors == []
    assert world.tool_calls() == quiet and len(incidents(world, "cron-job")) == 1

    world.ping("cron-job", 601)
    assert world.run(601.5).recovered == ["cron-job"]
    [incident] = incidents(world, "Heartbeat cron-job missed")
    assert incident["status_category"] == "closed"
    assert "pinging again" in incident["updates"][-1]["summary"]
    resolved = world.tool_calls()
    assert world.run(602).recovered == [] and world.tool_calls() == resolved

    world.ping("cron-job", 603)  # a ping older than the last one recorded changes nothing
    world.heartbeats.record_ping("cron-job", "", T0, via="http")
    assert world.heartbeats.load("cron-job").pings[""] == T0 + timedelta(minutes=603)


def test_a_window_heartbeat_must_ping_by_its_deadline(world: World) -> None:
    world.only("backup")
    world.ping("backup", -60 * 20)  # yesterday's run at 06:00: inside today's window (since yesterday 03:00)
    assert world.run(60 + 15).missed == []  # 03:15: the 15-minute grace has not passed
    assert world.run(60 + 16).missed == []  # yesterday's 06:00 ping counts for today's 03:00 deadline
    assert world.run(60 * 25 + 16).missed == ["backup"]  # tomorrow 03:16: nothing since yesterday 03:00
    [incident] = incidents(world, "Heartbeat backup missed")
    assert (
        "no ping in the window 2026-11-25T03:00:00Z → 2026-11-26T03:00:00Z (+15m grace)"
        in incident["arguments"]["summary"]
    )
    assert world.run(60 * 26).missed == []  # one incident per episode
    world.ping("backup", 60 * 26 + 30)  # the job ran late: pings resumed
    assert world.run(60 * 26 + 31).recovered == ["backup"]
    assert incidents(world, "Heartbeat backup missed")[0]["status_category"] == "closed"


def test_one_silent_instance_opens_while_another_keeps_pinging(world: World) -> None:
    world.only("watchdog")
    pings = AlertPings(world.heartbeats, lambda: world.rules)

    def watchdog(cluster: str, minute: float) -> Alert:
        return Alert(
            source="alertmanager",
            dedup_key=f"watchdog-{cluster}",
            group_key=f"watchdog-{cluster}",
            status=AlertStatus.FIRING,
            title="Watchdog",
            labels={"alertname": "Watchdog", "cluster": cluster},
            received_at=T0 + timedelta(minutes=minute),
        )

    missed: dict[float, list[str]] = {}
    for minute in range(0, 60, 5):  # eu-1 keeps pinging every 5 minutes; us-1 stops after minute 15
        pings.observe(watchdog("eu-1", minute))
        if minute < 20:
            pings.observe(watchdog("us-1", minute))
        report = world.run(minute + 1)
        if report.missed:
            missed[minute + 1] = report.missed
    assert missed == {26: ["watchdog/us-1"]}  # last ping at 15 + 10m interval: overdue from minute 25
    [incident] = incidents(world, "No Watchdog from")
    assert incident["name"] == "No Watchdog from us-1"
    assert world.run(60).missed == []

    pings.observe(watchdog("us-1", 61))
    assert world.run(62).recovered == ["watchdog/us-1"]
    assert incidents(world, "No Watchdog from us-1")[0]["status_category"] == "closed"


def test_alert_event_heartbeats_and_forwarding_to_an_incident_io_heartbeat_source(world: World) -> None:
    world.only("relayed")
    world.ping("relayed", 0)
    assert world.run(1).forwarded == ["relayed"]
    assert world.run(2).forwarded == []  # each ping is relayed once
    world.ping("relayed", 3)
    assert world.run(3.5).forwarded == ["relayed"]
    assert [h["name"] for h in world.state()["heartbeats"]] == [DEFAULT_HEARTBEAT_SOURCE_ID] * 2

    assert world.run(9).missed == ["relayed"]
    [alert] = world.state()["alerts"]
    assert (alert["status"], alert["title"]) == ("firing", "Heartbeat relayed missed")
    assert world.run(10).missed == [] and world.state()["alerts"][0]["events"] == 1
    world.ping("relayed", 11)
    report = world.run(11.5)
    assert report.recovered == ["relayed"] and report.forwarded == ["relayed"]
    [alert] = world.state()["alerts"]
    assert alert["status"] == "resolved"


# ---- escalations -----------------------------------------------------------------------------------


def test_an_unacknowledged_alert_escalates_once_per_level_at_the_right_time(world: World) -> None:
    world.only()
    world.dispatch(db_alert(), 0)
    [page_0] = world.state()["escalations"]
    assert page_0["status"] == "triggered" and len(world.timers()) == 2

    for minute in (1, 10, 14.9):
        assert world.run(minute).escalated == []
    assert len(world.state()["escalations"]) == 1

    report = world.run(15)
    assert report.escalated == ["db-group level 1"]
    escalations = world.state()["escalations"]
    assert len(escalations) == 2
    assert escalations[1]["arguments"]["user_ids"] == [GRACE]
    assert (
        escalations[1]["title"] == "Still unacknowledged: Disk full on db-1" and escalations[1]["status"] == "triggered"
    )
    [incident] = incidents(world, "[db]")
    assert escalations[1]["arguments"]["incident_id"] == incident["id"]  # linked to the group's incident
    assert len(world.timers()) == 1

    calls = world.tool_calls()
    for minute in (15, 16, 29.9):  # repeated runs: nothing further (no page, not even a question)
        assert world.run(minute).escalated == []
    assert len(world.state()["escalations"]) == 2
    assert world.tool_calls() == calls

    assert world.run(30).escalated == ["db-group level 2"]
    assert len(world.state()["escalations"]) == 3 and world.timers() == []
    state = world.groups.load(state_id_for("alertmanager", "db-group"))
    assert state.pending_escalations == [] and len(state.escalation_ids) == 3
    assert world.run(120).escalated == [] and len(world.state()["escalations"]) == 3


def test_an_acknowledged_page_gets_no_further_escalation(world: World) -> None:
    world.only()
    world.dispatch(db_alert(), 0)
    [page_0] = world.state()["escalations"]
    world.sim.simulator.call_tool("escalation_respond", {"id": page_0["id"]})  # someone acks it in incident.io
    calls = world.tool_calls()

    report = world.run(15)
    assert report.escalated == [] and report.cancelled == ["db-group"]
    assert world.tool_calls()["escalation_show"] == calls.get("escalation_show", 0) + 1  # asked, then stopped
    assert world.tool_calls()["escalation_create"] == calls["escalation_create"]
    assert len(world.state()["escalations"]) == 1 and world.timers() == []
    state = world.groups.load(state_id_for("alertmanager", "db-group"))
    assert state.pending_escalations == [] and state.acknowledged_at == T0 + timedelta(minutes=15)
    quiet = world.tool_calls()
    assert world.run(45).escalated == [] and world.tool_calls() == quiet


def test_an_acknowledgement_webhook_or_recovery_clears_the_timers(world: World) -> None:
    world.only()
    world.dispatch(db_alert(), 0)
    assert len(world.timers()) == 2
    world.dispatch(db_alert("acknowledged"), 5)  # e.g. a PagerDuty-style acknowledge event
    assert world.timers() == []
    assert world.run(60).escalated == [] and len(world.state()["escalations"]) == 1

    world.dispatch(db_alert("firing", key="disk-db-2").model_copy(update={"group_key": "db-2"}), 70)
    assert len(world.timers()) == 2
    world.dispatch(db_alert("resolved", key="disk-db-2").model_copy(update={"group_key": "db-2"}), 75)
    assert world.timers() == []
    assert world.run(200).escalated == [] and len(world.state()["escalations"]) == 2


def test_timers_left_by_a_lost_save_are_dropped(world: World) -> None:
    world.only()
    world.dispatch(db_alert(), 0)
    state_id = state_id_for("alertmanager", "db-group")
    state = world.groups.load(state_id)
    lost = state.model_copy(
        update={
            "version": state.version - 1,
            "pending_escalations": [PendingEscalation(level=9, due_at=T0 + timedelta(minutes=3), user_ids=[GRACE])],
        }
    )
    with pytest.raises(StaleState):
        world.groups.save(lost)  # lost the race, but its timer was already written
    assert len(world.timers()) == 3
    report = world.run(5)
    assert report.stale_timers == 1 and report.escalated == [] and len(world.timers()) == 2
    assert len(world.state()["escalations"]) == 1


# ---- concurrency -----------------------------------------------------------------------------------


def test_concurrent_runs_act_once(world: World) -> None:
    world.only("cron-job")
    world.ping("cron-job", 0)
    world.dispatch(db_alert(), 0)
    world.clock.at(31)  # the heartbeat is overdue and both delayed levels are due
    schedulers = [world.scheduler] + [world.another_scheduler() for _ in range(3)]
    start = threading.Barrier(len(schedulers))
    reports: list[RunReport] = []

    def run(scheduler: Scheduler) -> None:
        start.wait()
        reports.append(scheduler.run())

    threads = [threading.Thread(target=run, args=(scheduler,)) for scheduler in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(reports) == len(schedulers)
    assert all(report.errors == [] for report in reports), [r.errors for r in reports]

    calls = world.tool_calls()
    assert calls["incident_create"] == 2  # the db group's (dispatch) and the heartbeat's: once each
    assert calls["escalation_create"] == 3 * 2  # three levels, each a draft then an execute
    assert len(incidents(world, "Heartbeat cron-job missed")) == 1
    assert len(world.state()["escalations"]) == 3
    assert sum(len(r.escalated) for r in reports) == 2 and sum(len(r.missed) for r in reports) == 1

    for scheduler in schedulers:  # and afterwards every run finds nothing to do
        report = scheduler.run()
        assert (report.missed, report.escalated, report.errors) == ([], [], [])
    assert world.tool_calls() == calls


def test_a_run_that_loses_the_race_changes_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run B starts and finishes while run A is between reading the state and saving it."""
    world.only()
    world.ping("cron-job", 0)
    world.dispatch(db_alert(), 0)
    world.clock.at(20)
    other = world.another_scheduler()
    original_load = GroupStateStore.load
    interleaved: list[RunReport] = []

    def load_then_let_b_run(self: GroupStateStore, group_id: str) -> GroupState:
        state = original_load(self, group_id)
        if not interleaved and self is world.groups:
            interleaved.append(other.run())  # B: loads, pages level 1, saves — all before A decides
        return state

    monkeypatch.setattr(GroupStateStore, "load", load_then_let_b_run)
    report_a = world.scheduler.run()
    [report_b] = interleaved
    assert report_b.escalated == ["db-group level 1"] and report_a.escalated == []
    assert report_a.errors == [] and len(world.state()["escalations"]) == 2
    state = original_load(world.groups, state_id_for("alertmanager", "db-group"))
    assert [p.level for p in state.pending_escalations] == [2] and len(state.escalation_ids) == 2
