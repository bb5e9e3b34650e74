"""`explain` from a live state: the decision starts where the store says the group is (the same state dispatch
reads), not from a quiet group."""

from __future__ import annotations

from datetime import UTC, datetime

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.rules import parse_rules
from alert_courier.operator_tools.explain import explain
from tests.fakes import DrivenClock, World

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
RULES = parse_rules("rules:\n  - name: db\n    actions: [{open_incident: {on_resolve: resolve}}]\n")


def alert(status: str) -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key="db-1",
        group_key="db-group",
        status=AlertStatus(status),
        severity=Severity.CRITICAL,
        title="Disk full",
        started_at=T0,
    )


def test_a_resolve_from_the_live_state_closes_the_groups_incident() -> None:
    world = World(RULES, clock=DrivenClock(T0))
    world.courier.handle(AlertEnvelope(alert=alert("firing"), correlation_id="t"))
    [incident] = world.incidents()
    [step] = explain([alert("resolved")], RULES, live_state=world.states.load, now=T0)
    assert step["live_state"] == f"incident {incident['reference']} open, 1 alert(s) firing, 0 page(s), " + (
        "0 pending escalation level(s)"
    )
    [call] = step["calls"]
    assert call["tool"] == "incident_update" and call["arguments"]["incident_id"] == incident["id"]
    [quiet] = explain([alert("resolved")], RULES, now=T0)
    assert quiet["calls"] == [] and "live_state" not in quiet
    [fresh] = explain([alert("firing")], RULES, live_state=world.states.load, now=T0)
    assert fresh["calls"] == [] and "already firing" in " ".join(fresh["reasons"])  # a repeat, not a new incident
