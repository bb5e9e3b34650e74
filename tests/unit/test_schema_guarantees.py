"""Nothing is dropped from a call silently: what the server's schema leaves out of a call is recorded in the
decision's history, logged and counted, and a create without an idempotency key takes the re-check path."""

from __future__ import annotations

import logging

import pytest

from alert_courier.domain.actions import OpenIncident
from alert_courier.domain.alert import Severity
from alert_courier.domain.rules import parse_rules
from alert_courier.incident_io.tool_table import open_incident_arguments
from tests.fakes import SimulatedIncidentTools, World
from tests.unit.test_courier import PAGING, envelope

RULES = parse_rules("rules: [{name: all, actions: [open_incident]}]")


def test_the_filter_names_what_it_drops() -> None:
    action = OpenIncident(group_id="g", reason="r", generation=1, name="n", summary="s", severity=Severity.CRITICAL)
    dropped: list[str] = []
    schema = {"type": "object", "properties": {"name": {}, "summary": {}}}
    arguments = open_incident_arguments(action, None, schema, dropped)
    assert set(arguments) == {"name", "summary"}
    assert sorted(dropped) == ["idempotency_key", "mode", "visibility"]


def test_a_create_without_idempotency_key_is_recorded_in_history_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(RULES, tools=SimulatedIncidentTools(drop_arguments={"incident_create": ["idempotency_key"]}))
    with caplog.at_level(logging.WARNING, logger="alert_courier"):
        world.courier.handle(envelope("a"))
    result = world.history.read("alertmanager", "a")[0]["results"][0]
    assert result["dropped_arguments"] == {"incident_create": ["idempotency_key"]}
    notes = " ".join(result["schema_notes"])
    assert "incident_create takes no idempotency_key" in notes and "re-checked with incident_list" in notes
    assert "idempotency_key" not in world.tools.tool_calls("incident_create")[0]
    assert world.telemetry.total("ArgumentsDropped") == 1
    assert any(getattr(r, "dropped_arguments", None) == ["idempotency_key"] for r in caplog.records)


def test_without_idempotency_key_a_retry_after_a_lost_answer_takes_the_recheck_and_history_says_so() -> None:
    world = World(RULES, tools=SimulatedIncidentTools(drop_arguments={"incident_create": ["idempotency_key"]}))
    world.tools.script("incident_create", "lost")
    world.courier.handle(envelope("a"))
    assert len(world.incidents()) == 1
    result = world.history.read("alertmanager", "a")[0]["results"][0]
    assert result["found_by_recheck"] and result["dropped_arguments"] == {"incident_create": ["idempotency_key"]}
    assert [name for name, _ in world.tools.calls] == ["incident_create", "incident_list"]


def test_a_keyed_create_records_nothing_dropped() -> None:
    world = World(RULES)
    world.courier.handle(envelope("a"))
    result = world.history.read("alertmanager", "a")[0]["results"][0]
    assert "dropped_arguments" not in result and "schema_notes" not in result
    assert world.telemetry.total("ArgumentsDropped") == 0


def test_a_page_whose_schema_lacks_the_key_says_what_is_lost() -> None:
    world = World(PAGING, tools=SimulatedIncidentTools(drop_arguments={"escalation_create": ["idempotency_key"]}))
    world.courier.handle(envelope("a"))
    page = world.history.read("alertmanager", "a")[0]["results"][1]
    assert page["escalation_id"] and page["dropped_arguments"] == {"escalation_create": ["idempotency_key"]}
    assert any("may page twice" in note for note in page["schema_notes"])


def test_an_argument_dropped_from_the_resolve_is_recorded() -> None:
    world = World(RULES, tools=SimulatedIncidentTools(drop_arguments={"incident_update": ["notify_incident_channel"]}))
    world.courier.handle(envelope("a"))
    world.courier.handle(envelope("a", "resolved"))
    resolved = world.history.read("alertmanager", "a")[1]["results"][0]
    assert resolved["dropped_arguments"] == {"incident_update": ["notify_incident_channel"]}
