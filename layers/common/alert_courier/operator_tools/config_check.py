"""Checks a rules file against a live incident.io MCP server: tools present, planned calls fit their schemas,
and every severity, status and incident type named in the rules exists in the organisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from alert_courier.domain.actions import Action
from alert_courier.domain.alert import Alert, AlertStatus, Severity
from alert_courier.domain.decisions import decide
from alert_courier.domain.group_state import GroupState, state_id_for
from alert_courier.domain.rules import RuleSet, plan_for
from alert_courier.incident_io.organisation import Organisation
from alert_courier.incident_io.tool_errors import ToolCallError
from alert_courier.incident_io.tool_table import ORGANISATION_RESOURCE, UnknownName, planned_calls


class ToolServer(Protocol):
    def input_schemas(self) -> dict[str, dict[str, Any]]: ...

    def validate_arguments(self, name: str, arguments: dict[str, Any]) -> None: ...

    def read_resource(self, uri: str) -> dict[str, Any]: ...


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    failures: int = 0

    def ok(self, text: str) -> None:
        self.lines.append(f"ok    {text}")

    def warn(self, text: str) -> None:
        self.lines.append(f"warn  {text}")

    def fail(self, text: str) -> None:
        self.failures += 1
        self.lines.append(f"FAIL  {text}")


def sample_actions(rules: RuleSet) -> list[tuple[str, Action]]:
    """The actions each rule would take for a firing, an acknowledged and a resolved alert of its own."""
    found: list[tuple[str, Action]] = []
    for rule in [*rules.rules]:
        labels = {name: cond.equals or "sample" for name, cond in rule.match.labels.items()}
        severity = (
            Severity(rule.match.severity.equals)
            if rule.match.severity and rule.match.severity.equals in ([s.value for s in Severity])
            else Severity.CRITICAL
        )
        source = rule.match.source.equals if rule.match.source and rule.match.source.equals else "alertmanager"
        firing = Alert(
            source=source,
            dedup_key=f"check-{rule.name}",
            group_key=f"check-{rule.name}",
            status=AlertStatus.FIRING,
            severity=severity,
            title=f"check {rule.name}",
            labels=labels,
        )
        plan = plan_for(firing, rules)
        if rule.name not in [m.rule for m in plan.matched]:
            continue
        state = GroupState(group_id=state_id_for(source, plan.state_key))
        from datetime import UTC, datetime

        decision = decide(plan, state, rules, datetime.now(UTC))
        found += [(rule.name, action) for action in decision.actions]
        opened = decision.next_state.model_copy(
            update={"incident_open": True, "incident_id": "01CHECK", "escalation_ids": ["01CHECKESC"]}
        )
        for status in (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED):
            later = plan_for(firing.model_copy(update={"status": status}), rules)
            found += [(rule.name, action) for action in decide(later, opened, rules, datetime.now(UTC)).actions]
    return found


def check_against_server(rules: RuleSet, server: ToolServer, report: CheckReport) -> None:
    try:
        schemas = server.input_schemas()
    except ToolCallError as error:
        report.fail(f"MCP server unreachable or refused the key: {error.describe()}")
        return
    report.ok(f"MCP server answers with the key; it offers {len(schemas)} tools")
    try:
        organisation = Organisation.from_resource(server.read_resource(ORGANISATION_RESOURCE))
        report.ok(
            f"{ORGANISATION_RESOURCE} readable: {len(organisation.severities)} severities, "
            f"{len(organisation.incident_statuses)} statuses"
        )
    except ToolCallError as error:
        report.fail(f"{ORGANISATION_RESOURCE} unreadable: {error.describe()}")
        return
    checked: set[str] = set()
    for rule_name, action in sample_actions(rules):
        try:
            calls = planned_calls(action, organisation, schemas, "01CHECK")
        except UnknownName as error:
            report.fail(f"rule {rule_name!r}: {error}")
            continue
        for call in calls:
            if "tool" not in call:
                continue
            label = f"rule {rule_name!r}: {call['tool']}"
            try:
                server.validate_arguments(call["tool"], call["arguments"])
            except ToolCallError as error:
                report.fail(f"{label}: {error.message}" + (f" (field {error.field})" if error.field else ""))
                continue
            if label not in checked:
                checked.add(label)
                report.ok(f"{label} fits the advertised schema")
