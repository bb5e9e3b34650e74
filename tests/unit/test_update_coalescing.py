"""Updates that wait for the call budget are coalesced: several raises of one incident become one call with the
latest severity, and each waiting update is still done (by that call) exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alert_courier.domain.actions import FlappingUpdate, OpenIncident, UpdateIncident
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.call_budget import Priority
from alert_courier.domain.errors import ActionFailed
from alert_courier.domain.rules import parse_rules
from alert_courier.domain.unfinished_work import coalesce_updates
from tests.budget_fakes import ShortBudget
from tests.fakes import World

RULES = parse_rules("rules: [{name: all, actions: [open_incident]}]")
STARTED = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def firing(key: str, severity: Severity) -> AlertEnvelope:
    alert = Alert(
        source="alertmanager",
        dedup_key=key,
        group_key="group-1",
        status=AlertStatus.FIRING,
        severity=severity,
        title=f"{key} ({severity.value})",
        started_at=STARTED,
    )
    return AlertEnvelope(alert=alert, correlation_id=f"corr-{key}")


def short_world() -> World:
    world = World(RULES, budget=ShortBudget())
    world.courier.handle(firing("a", Severity.WARNING))  # opens the incident
    world.budget.short_from = Priority.UPDATE
    return world


def severity_of_the_incident(world: World) -> str:
    [incident] = world.incidents()
    return str(incident["severity"]["name"])


def test_raises_that_waited_become_one_call_with_the_latest_severity_and_later_retries_find_it_done() -> None:
    world = short_world()
    for key, severity in (("b", Severity.ERROR), ("c", Severity.CRITICAL)):
        with pytest.raises(ActionFailed):  # the budget is short for updates: retried later (SQS)
            world.courier.handle(firing(key, severity))
    assert world.tools.tool_calls("incident_update") == []
    world.budget.short_from = None
    world.courier.handle(firing("b", Severity.ERROR))  # b's redelivery: raised to where the episode is now
    world.courier.handle(firing("c", Severity.CRITICAL))  # c's: the ledger has it done
    world.courier.handle(firing("b", Severity.ERROR))
    assert len(world.tools.tool_calls("incident_update")) == 1
    assert severity_of_the_incident(world) == RULES.severity.incident_io[Severity.CRITICAL]


def test_a_raise_arriving_while_an_earlier_one_waits_makes_one_call_for_both() -> None:
    world = short_world()
    with pytest.raises(ActionFailed):
        world.courier.handle(firing("b", Severity.ERROR))
    world.budget.short_from = None
    outcome = world.courier.handle(firing("c", Severity.CRITICAL))
    assert outcome["actions"] == ["update_incident"]
    assert len(world.tools.tool_calls("incident_update")) == 1
    assert severity_of_the_incident(world) == RULES.severity.incident_io[Severity.CRITICAL]
    world.courier.handle(firing("b", Severity.ERROR))  # b's redelivery: nothing left to do
    assert len(world.tools.tool_calls("incident_update")) == 1


def raise_to(severity: Severity, incident_id: str = "inc-1") -> UpdateIncident:
    return UpdateIncident(group_id="g", reason="raise", generation=1, incident_id=incident_id, severity=severity)


def flapping(spell: str) -> FlappingUpdate:
    return FlappingUpdate(group_id="g", reason="flap", generation=1, incident_id="inc-1", summary=spell, spell=spell)


def test_coalescing_keeps_the_last_update_of_each_kind_where_it_stands_and_everything_else() -> None:
    opening = OpenIncident(group_id="g", reason="open", generation=2, name="n", summary="", severity=Severity.ERROR)
    actions = [raise_to(Severity.ERROR), flapping("s1"), opening, raise_to(Severity.CRITICAL), flapping("s2")]
    assert coalesce_updates(actions) == [opening, raise_to(Severity.CRITICAL), flapping("s2")]
    other_episode = raise_to(Severity.CRITICAL).model_copy(update={"generation": 2})
    assert coalesce_updates([raise_to(Severity.ERROR), other_episode]) == [raise_to(Severity.ERROR), other_episode]


def test_a_page_left_undone_when_the_group_recovers_is_dropped_and_the_history_says_so() -> None:
    rules = parse_rules("rules: [{name: all, actions: [open_incident, {escalate: {escalation_path_id: P1}}]}]")
    world = World(rules)
    world.tools.script("escalation_create", "transient", times=5)
    with pytest.raises(ActionFailed):
        world.courier.handle(firing("a", Severity.CRITICAL))  # the incident opens, its page fails
    resolved = firing("a", Severity.CRITICAL)
    resolved = resolved.model_copy(update={"alert": resolved.alert.model_copy(update={"status": AlertStatus.RESOLVED})})
    outcome = world.courier.handle(resolved)
    assert outcome["actions"] == ["resolve_incident"]
    assert any(r.startswith("page dropped: escalate level 0") for r in outcome["reasons"])
