"""A server without `escalation_create`: the page fails at once, with a reason that names the fix."""

from __future__ import annotations

import pytest

from alert_courier.domain.actions import Escalate
from alert_courier.domain.group_state import GroupState
from alert_courier.incident_io.executor import IncidentIoExecutor
from alert_courier.incident_io.tool_errors import ToolCallError
from alert_courier.use_cases.ports import Claim
from tests.fakes import SimulatedIncidentTools


def test_a_page_without_escalation_create_is_permanent_and_names_the_alert_source_fix() -> None:
    tools = SimulatedIncidentTools(drop_tools=["escalation_create"])
    path_id = tools.simulator.directory.escalation_path_ids()[0]
    page = Escalate(group_id="g", reason="page", generation=1, title="Disk full", escalation_path_id=path_id)
    with pytest.raises(ToolCallError) as raised:
        IncidentIoExecutor(tools).execute(page, Claim(action_key="k", done=False), GroupState(group_id="g"), [], None)
    assert raised.value.permanent and raised.value.code == "no_escalation_tool"
    assert "alert_event" in raised.value.message and "alert route" in raised.value.message
    assert tools.calls == []  # nothing was sent


def test_without_escalation_create_a_rule_with_an_alert_source_pages_through_its_alert_route() -> None:
    """issue 17: the rule's alert event goes to a source whose incident.io alert route escalates: that is the page."""
    from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
    from alert_courier.domain.rules import parse_rules
    from tests.fakes import World

    tools = SimulatedIncidentTools(drop_tools=["escalation_create"])
    path_id = tools.simulator.directory.escalation_path_ids()[0]
    rules = parse_rules(f"""
rules:
  - name: payments
    actions:
      - alert_event: {{alert_source_config_id: src-payments}}
      - open_incident
      - escalate: {{escalation_path_id: {path_id}}}
      - escalate: {{escalation_path_id: {path_id}, after_minutes: 15}}
""")
    world = World(rules, tools=tools)
    alert = Alert(
        source="generic", dedup_key="k", group_key="k", status=AlertStatus.FIRING, severity=Severity.CRITICAL, title="t"
    )
    outcome = world.courier.handle(AlertEnvelope(alert=alert, correlation_id="c"))
    assert outcome["actions"] == ["alert_event", "open_incident", "escalate"]
    assert outcome["results"][2] == {"escalation_id": None, "delegated_to_alert_source": "src-payments"}
    assert [config for config, _ in world.alert_events.events] == ["src-payments"]  # the event its route pages on
    (state,) = world.states.states.values()
    assert state.pending_escalations[0].alert_source_config_id == "src-payments"  # later levels: the same route
    assert tools.tool_calls("escalation_create") == []
