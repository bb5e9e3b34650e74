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
