"""`ack`, `resolve` and `forget` of a group on the in-memory ports (dispatch, the scheduler and the operations on one
runner and ledger, the simulator's tools): each a real effect, once, however often it is run, and recorded."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.decisions import state_id_of
from alert_courier.domain.rules import parse_rules
from alert_courier.operator_tools.cli_errors import CliError
from alert_courier.operator_tools.manual import confirm, result_line
from alert_courier.use_cases.manual_operations import ManualOperations, ManualResult
from tests.fakes import DrivenClock, World

PATH = "01HR716FJW92V81E5128Q6RW31"
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
RULES = parse_rules(
    f"""
rules:
  - name: database
    match: {{labels: {{team: db}}}}
    actions:
      - open_incident: {{on_resolve: resolve}}
      - escalate: {{escalation_path_id: {PATH}}}
      - escalate: {{escalation_path_id: {PATH}, after_minutes: 15}}
  - name: web
    match: {{labels: {{team: web}}}}
    actions:
      - open_incident: {{on_resolve: update}}
  - name: payments
    match: {{labels: {{team: payments}}}}
    actions:
      - alert_event: {{alert_source_config_id: payments-source}}
      - open_incident
"""
)


def alert(dedup_key: str, status: str = "firing", team: str = "db", started: datetime = T0) -> AlertEnvelope:
    return AlertEnvelope(
        alert=Alert(
            source="alertmanager",
            dedup_key=dedup_key,
            group_key=f"{team}-group",
            status=AlertStatus(status),
            severity=Severity.CRITICAL,
            title=f"Disk full ({dedup_key})",
            labels={"team": team},
            started_at=started,
        ),
        correlation_id="test",
    )


def setup() -> tuple[World, ManualOperations, str]:
    world = World(RULES, clock=DrivenClock(T0))
    operations = ManualOperations(world.states, world.runner, world.history, lambda: RULES, clock=world.clock)
    return world, operations, state_id_of(alert("db-1").alert, RULES)


def tool_calls(world: World, name: str) -> int:
    return sum(1 for called, _ in world.tools.calls if called == name)


def test_ack_acknowledges_the_page_cancels_the_pending_level_once_and_is_recorded() -> None:
    world, operations, group = setup()
    world.courier.handle(alert("db-1"))
    assert len(world.states.load(group).pending_escalations) == 1 and len(world.states.timers) == 1
    done = operations.perform("ack", group, by="alice", reason="on it")
    assert done.error is None and done.changed and [r["acknowledged"] for r in done.results] == [True]
    assert "1 pending escalation level(s) cancelled" in done.reasons
    [page] = [record.escalation for record in world.simulator_state().escalations.values()]
    assert page["status"] == "acked"
    assert world.states.load(group).pending_escalations == [] and world.states.timers == set()
    again = operations.perform("ack", group, by="alice")
    assert [r.get("remembered") for r in again.results] == [True] and not again.changed
    assert tool_calls(world, "escalation_respond") == 1
    world.clock.now = T0 + timedelta(minutes=16)
    assert world.scheduler.run().escalated == []  # the cancelled level never pages
    manual = [entry for _, _, entry in world.history.entries if entry.get("manual")]
    assert [entry["manual"] for entry in manual] == [
        {"operation": "ack", "by": "alice", "reason": "on it"},
        {
            "operation": "ack",
            "by": "alice",
            "reason": "",
        },
    ]
    assert manual[0]["reasons"][0] == "manual ack by alice: on it"


def test_resolve_closes_the_incident_ends_the_episode_once_and_a_new_firing_starts_afresh() -> None:
    world, operations, group = setup()
    world.courier.handle(alert("db-1"))
    world.courier.handle(alert("db-2"))
    done = operations.perform("resolve", group, by="bob")
    assert done.error is None and [a["kind"] for a in done.actions] == ["resolve_incident"]
    [incident] = world.incidents()
    assert incident["incident_status"]["category"] == "closed"
    state = world.states.load(group)
    assert state.firing == {} and not state.incident_open and state.pending_escalations == []
    again = operations.perform("resolve", group, by="bob")
    assert again.actions == [] and "nothing to resolve: the group has no open episode" in again.reasons
    assert tool_calls(world, "incident_update") == 1
    world.courier.handle(alert("db-1"))  # Alertmanager re-sends the firing it ended: stale, nothing opens
    world.courier.handle(alert("db-1", "resolved"))  # the real resolve, late: nothing to do
    assert len(world.incidents()) == 1
    world.courier.handle(alert("db-1", started=T0 + timedelta(hours=1)))  # a new firing: a new episode
    assert len(world.incidents()) == 2 and world.states.load(group).generation == 2


def test_resolve_follows_the_rules_on_resolve_update_posts_and_leaves_it_open() -> None:
    world, operations, _ = setup()
    world.courier.handle(alert("web-1", team="web"))
    done = operations.perform("resolve", state_id_of(alert("web-1", team="web").alert, RULES), by="bob")
    [action] = done.actions
    assert action["close"] is False
    [incident] = world.incidents()
    assert incident["incident_status"]["category"] != "closed"


def test_forget_drops_the_state_without_calling_incident_io_and_the_next_firing_opens_a_new_incident() -> None:
    world, operations, group = setup()
    world.courier.handle(alert("db-1"))
    calls = len(world.tools.calls)
    world.courier.handle(alert("db-1"))  # drift: say the incident was closed by hand; re-sends only join
    assert len(world.incidents()) == 1
    done = operations.perform("forget", group, by="carol")
    assert done.changed and done.actions == [] and len(world.tools.calls) == calls
    state = world.states.load(group)
    assert state.firing == {} and state.incident_id is None and state.generation == 1
    assert operations.perform("forget", group, by="carol").reasons[-1] == (
        "nothing to forget: the group's state is already empty"
    )
    world.courier.handle(alert("db-1"))  # the same firing, re-sent: now it starts a new episode
    assert len(world.incidents()) == 2 and world.states.load(group).generation == 2


class Terminal(io.StringIO):
    """A terminal the operator types `answer` at."""

    def isatty(self) -> bool:
        return True


def test_confirmation_asks_at_a_terminal_and_only_yes_goes_ahead() -> None:
    world, _, group = setup()
    world.courier.handle(alert("db-1"))
    state = world.states.load(group)
    for answer, expected in (("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False)):
        prompt = io.StringIO()
        assert confirm("resolve", state, assume_yes=False, stdin=Terminal(answer), stderr=prompt) is expected
        assert "1 alert(s) firing" in prompt.getvalue() and prompt.getvalue().endswith("Go ahead? [y/N] ")
    assert confirm("resolve", state, assume_yes=True, stdin=io.StringIO(), stderr=io.StringIO()) is True
    with pytest.raises(CliError, match="refusing to resolve without confirmation: no terminal to ask at; add --yes"):
        confirm("resolve", state, assume_yes=False, stdin=io.StringIO("y\n"), stderr=io.StringIO())


def test_resolve_also_resolves_the_rules_alert_events_for_every_alert_still_firing_once() -> None:
    world, operations, _ = setup()
    for key in ("pay-1", "pay-2"):
        world.courier.handle(alert(key, team="payments"))
    group = state_id_of(alert("pay-1", team="payments").alert, RULES)
    done = operations.perform("resolve", group, by="bob")
    assert [a["kind"] for a in done.actions] == ["alert_event", "alert_event", "resolve_incident"]
    resolved = [
        (config, event["deduplication_key"])
        for config, event in world.alert_events.events
        if event["status"] == "resolved"
    ]
    assert resolved == [("payments-source", "alertmanager:pay-1"), ("payments-source", "alertmanager:pay-2")]
    world.courier.handle(alert("pay-1", "resolved", team="payments"))  # the real resolve: nothing left to send
    assert operations.perform("resolve", group, by="bob").actions == []
    assert len(world.alert_events.events) == 4  # two firings, two resolves


def test_the_result_line_says_what_was_done_and_what_incident_io_refused() -> None:
    ack = {"kind": "acknowledge_escalation", "escalation_id": "E1"}
    refused = ManualResult(
        "ack",
        "g",
        ["manual ack by a", "1 pending escalation level(s) cancelled"],
        [ack],
        [{"escalation_id": "E1", "acknowledged": False, "refused": "403 Forbidden"}],
        changed=True,
    )
    assert result_line(refused) == (
        "ack group 'g': page E1 not acknowledged: incident.io refused (403 Forbidden); "
        "1 pending escalation level(s) cancelled"
    )
    failed = ManualResult("resolve", "g", ["manual resolve by a"], error="incident_update: HTTP 503")
    assert result_line(failed) == "resolve group 'g' failed: incident_update: HTTP 503 (nothing saved; run it again)"
