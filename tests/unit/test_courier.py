"""The dispatch use case on in-memory ports (tests/fakes.py): once-only, recovery, metrics, history — no moto,
no HTTP. The same use case on the DynamoDB adapters: tests/integration/test_courier_dynamodb.py."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.errors import ActionBusy, PermanentFailure, StaleState
from alert_courier.domain.rules import parse_rules
from alert_courier.incident_io.tool_errors import ToolCallError
from alert_courier.operator_tools.explain import explain
from tests.fakes import InMemoryGroupStates, SimulatedIncidentTools, World

RULES = parse_rules("rules: [{name: all, actions: [open_incident]}]")
PAYMENTS_PATH = "01HR716FJW92V81E5128Q6RW31"  # an escalation path of the simulator's organisation
PAGING = parse_rules(
    f"rules: [{{name: page, actions: [open_incident, {{escalate: {{escalation_path_id: {PAYMENTS_PATH}}}}}]}}]"
)
STARTED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def alert(key: str, status: str = "firing", *, group: str = "group-1", minutes: float = 0) -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key=key,
        group_key=group,
        status=AlertStatus(status),
        severity=Severity.CRITICAL,
        title=f"alert {key}",
        started_at=STARTED + timedelta(minutes=minutes),
    )


def envelope(key: str, status: str = "firing", **kwargs: Any) -> AlertEnvelope:
    return AlertEnvelope(alert=alert(key, status, **kwargs), correlation_id="corr-1")


def test_redeliveries_open_one_incident_and_count_dedup_hits() -> None:
    world = World(RULES)
    for _ in range(3):
        world.courier.handle(envelope("a"))
    world.courier.handle(envelope("b"))
    assert [name for name, _ in world.tools.calls] == ["incident_create"]
    assert world.telemetry.total("IncidentsOpened") == 1 and world.telemetry.total("DedupHits") == 3
    assert [name for name, *_ in world.telemetry.timings] == ["ToolCallLatency"]


def test_the_group_resolves_when_its_last_alert_does() -> None:
    world = World(RULES)
    world.courier.handle(envelope("a"))
    world.courier.handle(envelope("b"))
    world.courier.handle(envelope("a", "resolved"))
    assert [incident["incident_status"]["category"] for incident in world.incidents()] == ["triage"]
    world.courier.handle(envelope("b", "resolved"))
    assert [incident["incident_status"]["category"] for incident in world.incidents()] == ["closed"]


def test_concurrent_workers_on_one_group_open_one_incident() -> None:
    world = World(RULES)
    handled: list[str] = []

    def work(key: str) -> None:
        for _ in range(200):
            try:
                world.courier.handle(envelope(key))
                handled.append(key)
                return
            except (ActionBusy, StaleState):  # SQS would redeliver the message
                time.sleep(0.001)

    threads = [threading.Thread(target=work, args=(f"k{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [name for name, _ in world.tools.calls] == ["incident_create"]
    (state,) = world.states.states.values()
    assert sorted(handled) == sorted(state.firing) == [f"k{i}" for i in range(6)]


def test_history_records_each_decision_with_its_reasons() -> None:
    world = World(RULES)
    world.courier.handle(envelope("a"))
    world.courier.handle(envelope("a", "resolved"))
    history = world.history.read("alertmanager", "a")
    assert [entry["status"] for entry in history] == ["firing", "resolved"]
    assert history[0]["results"][0]["incident_reference"] == "INC-1"
    assert history[1]["actions"][0]["kind"] == "resolve_incident" and history[1]["correlation_id"] == "corr-1"


def test_an_incident_whose_answer_was_lost_is_not_opened_twice() -> None:
    world = World(RULES)
    world.tools.script("incident_create", "lost")
    result = world.courier.handle(envelope("a"))  # the keyed create is retried: the server returns the same one
    assert len(world.incidents()) == 1 and result["results"][0]["incident_reference"] == "INC-1"


def test_without_an_idempotency_key_a_lost_answer_is_found_by_the_recheck() -> None:
    world = World(RULES, tools=SimulatedIncidentTools(drop_arguments={"incident_create": ["idempotency_key"]}))
    world.tools.script("incident_create", "lost")
    result = world.courier.handle(envelope("a"))
    assert len(world.incidents()) == 1 and result["results"][0]["found_by_recheck"]
    assert [name for name, _ in world.tools.calls] == ["incident_create", "incident_list"]


def test_a_page_whose_answer_was_lost_is_found_not_sent_again() -> None:
    world = World(PAGING)
    world.tools.script("escalation_create", "ok")  # the draft
    world.tools.script("escalation_create", "lost")  # the execute: the page went out, the answer did not come
    result = world.courier.handle(envelope("a"))
    assert result["results"][1]["found_by_recheck"]
    world.courier.handle(envelope("a"))  # a redelivery changes nothing
    executes = [args for args in world.tools.tool_calls("escalation_create") if args.get("action") == "execute"]
    assert len(executes) == 1 and len(world.simulator_state().escalations) == 1
    assert world.telemetry.total("Escalations") == 1


def test_a_transient_failure_is_retried_by_redelivery_and_acts_once() -> None:
    world = World(PAGING)
    world.tools.script("escalation_create", "transient")
    with pytest.raises(ToolCallError):
        world.courier.handle(envelope("a"))
    assert world.history.read("alertmanager", "a")[0]["error"].startswith("transient escalation_create 503")
    world.courier.handle(envelope("a"))  # SQS redelivers: the incident is remembered, the page goes out
    assert len(world.incidents()) == 1 and len(world.simulator_state().escalations) == 1


def test_a_permanent_failure_is_dead_lettered_with_its_reason() -> None:
    world = World(RULES)
    world.tools.script("incident_create", "permanent")
    with pytest.raises(PermanentFailure, match="permanent incident_create 422"):
        world.courier.handle(envelope("a"))
    assert world.incidents() == []


def test_a_missing_tool_is_a_permanent_failure_naming_it() -> None:
    world = World(PAGING, tools=SimulatedIncidentTools(drop_tools=["escalation_create"]))
    with pytest.raises(PermanentFailure, match=r"offers no escalation_create.*alert_event"):
        world.courier.handle(envelope("a"))


def test_a_group_too_big_to_store_is_dead_lettered_with_its_reason() -> None:
    world = World(RULES, states=InMemoryGroupStates(max_firing=3))
    for key in ("a", "b", "c"):
        world.courier.handle(envelope(key))
    with pytest.raises(PermanentFailure, match=r"tracks 4 firing alerts .* group these alerts more finely"):
        world.courier.handle(envelope("d"))
    assert "firing alerts" in world.history.read("alertmanager", "d")[0]["error"]


def test_explain_decides_exactly_what_dispatch_does() -> None:
    """`explain` and the dispatch use case call the same decision: the same reasons for the same sequence."""
    sequence = [alert("a"), alert("b"), alert("a"), alert("a", "resolved"), alert("b", "resolved"), alert("c")]
    world = World(PAGING)
    for item in sequence:
        world.courier.handle(AlertEnvelope(alert=item, correlation_id="c"))
    dispatched = [
        [re.sub(r"INC-\d+", "INC-?", reason) for reason in entry["reasons"]]  # explain opens nothing: no number
        for *_, entry in world.history.entries
    ]
    explained = [entry["reasons"] for entry in explain(sequence, PAGING, now=world.clock())]
    assert explained == dispatched and len(dispatched) == len(sequence)
