"""Proves the fit between what alert-courier sends and what an incident.io MCP server advertises, from its tool
schemas and organisation document alone (no calls): every tool the rules and the recovery paths use, our exact
arguments against each input schema, the organisation's severities/statuses/types, the page fallback, the key's
identity and roles. The same data comes from a live server or a recorded contract (`doctor --record`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from alert_courier.domain.actions import Action, Escalate, OpenIncident, ResolveIncident, UpdateIncident
from alert_courier.domain.rules import RuleSet
from alert_courier.incident_io.executor import NO_ESCALATION_TOOL, UNKEYED_FALLBACK
from alert_courier.incident_io.mcp_client import schema_violation
from alert_courier.incident_io.organisation import Organisation
from alert_courier.incident_io.tool_table import (
    GUARANTEES,
    ORGANISATION_RESOURCE,
    RESOLVED_STATUS_CATEGORY,
    TOOLS,
    UnknownName,
    acknowledge_arguments,
    escalation_draft_arguments,
    escalation_execute_arguments,
    open_incident_arguments,
    resolve_incident_arguments,
    update_incident_arguments,
)
from alert_courier.operator_tools.config_check import sample_actions

Level = Literal["ok", "warn", "error"]
CHECK_ID = "01CHECK"
# Tools an API key's identity may be read with, where a server offers one (none is seen on mcp.incident.io).
IDENTITY_TOOLS = ("identity_show", "identity_get", "whoami")
IDENTITY_KEYS = ("identity", "api_key", "actor")


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str
    tool: str | None = None
    field: str | None = None


@dataclass
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)

    def add(self, level: Level, text: str, *, tool: str | None = None, field: str | None = None) -> None:
        self.findings.append(Finding(level, text, tool, field))

    @property
    def failures(self) -> int:
        return sum(1 for finding in self.findings if finding.level == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for finding in self.findings if finding.level == "warn")

    def lines(self) -> list[str]:
        marks = {"ok": "ok   ", "warn": "warn ", "error": "FAIL "}
        return [f"{marks[finding.level]} {finding.text}" for finding in self.findings]

    def as_json(self) -> dict[str, Any]:
        checks = [
            {"ok": finding.level != "error", "level": finding.level, "text": finding.text}
            | ({"tool": finding.tool} if finding.tool else {})
            | ({"field": finding.field} if finding.field else {})
            for finding in self.findings
        ]
        return {"ok": not self.failures, "failures": self.failures, "warnings": self.warnings, "checks": checks}


@dataclass(frozen=True)
class PlannedCall:
    """One call we make: the arguments before the schema filter (`full`) and as sent (`sent`)."""

    tool: str
    purpose: str
    full: dict[str, Any]
    sent: dict[str, Any]


def check_fit(
    rules: RuleSet,
    schemas: dict[str, dict[str, Any]],
    organisation_document: dict[str, Any],
    report: DoctorReport,
    *,
    identity: dict[str, Any] | None = None,
    identity_source: str = "",
) -> None:
    """Every finding about the fit, added to `report` (errors name the tool and the field)."""
    report.add("ok", f"the server offers {len(schemas)} tools")
    organisation = check_organisation(organisation_document, report)
    actions = sample_actions(rules)
    calls: list[PlannedCall] = []
    for rule_name, action in actions:
        try:
            calls += rule_calls(rule_name, action, organisation, schemas)
        except UnknownName as error:
            report.add("error", f"rule {rule_name!r}: {error}")
    calls += recovery_calls(schemas)
    check_calls(calls, schemas, report)
    for tool in sorted({call.tool for call in calls} & set(schemas)):
        check_permissive(tool, schemas[tool], report)
    check_page_fallback(actions, schemas, report)
    check_identity(identity, identity_source, needed_roles(actions), report)


def check_organisation(document: dict[str, Any], report: DoctorReport) -> Organisation:
    """0 severities, statuses or types is an error naming the keys the document does have."""
    organisation = Organisation.from_resource(document)
    counts = {
        "severities": len(organisation.severities),
        "incident_statuses": len(organisation.incident_statuses),
        "incident_types": len(organisation.incident_types),
    }
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        report.add(
            "error",
            f"{ORGANISATION_RESOURCE} has 0 {', 0 '.join(empty)} (the document's keys: {document_keys(document)}): "
            "alert-courier cannot name a severity, close an incident or choose a type; record the document "
            "(doctor --record) and report its shape",
            field=empty[0],
        )
    else:
        report.add(
            "ok",
            f"{ORGANISATION_RESOURCE}: {counts['severities']} severities, {counts['incident_statuses']} statuses, "
            f"{counts['incident_types']} incident types",
        )
    if organisation.incident_statuses and organisation.status_id(category=RESOLVED_STATUS_CATEGORY) is None:
        categories = sorted({item.category or "(none)" for item in organisation.incident_statuses})
        report.add(
            "error",
            f"{ORGANISATION_RESOURCE}: no status of category {RESOLVED_STATUS_CATEGORY!r} to resolve incidents "
            f"with (categories found: {', '.join(categories)})",
            field="incident_statuses",
        )
    return organisation


def document_keys(document: dict[str, Any]) -> str:
    keys = [str(key) for key in document] or ["none"]
    inner = [
        f"{key}.{sub}"
        for key in ("organisation", "config")
        if isinstance(document.get(key), dict)
        for sub in document[key]
    ]
    return ", ".join(keys + inner)


def rule_calls(
    rule_name: str, action: Action, organisation: Organisation, schemas: dict[str, dict[str, Any]]
) -> list[PlannedCall]:
    """The calls one rule's action makes, built as dispatch builds them, before and after the schema filter."""
    purpose = f"rule {rule_name!r}"

    def both(tool: str, build: Any) -> PlannedCall:
        return PlannedCall(tool, purpose, build({}), build(schemas.get(tool, {})))

    if isinstance(action, OpenIncident):
        return [both(TOOLS["open_incident"], lambda s: open_incident_arguments(action, organisation, s))]
    if isinstance(action, ResolveIncident):
        return [both(TOOLS["resolve_incident"], lambda s: resolve_incident_arguments(action, organisation, s))]
    if isinstance(action, UpdateIncident):
        return [both(TOOLS["update_incident"], lambda s: update_incident_arguments(action, organisation, s))]
    if isinstance(action, Escalate):
        tool = TOOLS["escalate"]
        execute = escalation_execute_arguments("<suggestion_id>")
        return [
            both(tool, lambda s: escalation_draft_arguments(action, CHECK_ID, s)),
            PlannedCall(tool, f"{purpose}, executing the draft", execute, execute),
        ]
    return []  # alert events go to the REST endpoint, acknowledgements are checked with the recovery calls


def recovery_calls(schemas: dict[str, dict[str, Any]]) -> list[PlannedCall]:
    """The reads and answers dispatch and the scheduler make to stay single (incident_io/lookups.py, executor)."""

    def accepts(tool: str, name: str) -> bool:
        return name in (schemas.get(tool, {}).get("properties") or {})

    listed: dict[str, Any] = {"created_after": "2026-01-01T00:00:00+00:00", "page_size": 50}
    if accepts(TOOLS["find_incidents"], "include"):
        listed["include"] = ["summary"]
    if accepts(TOOLS["find_incidents"], "after"):
        listed["after"] = "<cursor>"
    page_list: dict[str, Any] = {"page_size": 50} if accepts(TOOLS["find_escalations"], "page_size") else {}
    ack_schema = schemas.get(TOOLS["acknowledge_escalation"], {})
    calls = [
        PlannedCall(TOOLS["find_incidents"], "re-check of an unanswered create", dict(listed), listed),
        PlannedCall(
            TOOLS["show_incident"], "read back an incident already resolved", {"id": CHECK_ID}, {"id": CHECK_ID}
        ),
        PlannedCall(
            TOOLS["find_escalations"],
            "re-check of an unanswered page",
            {"idempotency_key": "k"},
            {"idempotency_key": "k"},
        ),
        PlannedCall(TOOLS["find_escalations"], "page statuses without escalation_show", page_list, page_list),
        PlannedCall(TOOLS["show_escalation"], "was the page acknowledged", {"id": CHECK_ID}, {"id": CHECK_ID}),
        PlannedCall(
            TOOLS["acknowledge_escalation"],
            "acknowledge a page",
            acknowledge_arguments(CHECK_ID, {}),
            acknowledge_arguments(CHECK_ID, ack_schema),
        ),
        PlannedCall(
            TOOLS["find_alerts"], "read back an alert event", {"deduplication_key": "k"}, {"deduplication_key": "k"}
        ),
    ]
    return calls


# Tools whose absence has a fallback: a warning, not an error.
FALLBACKS = {
    TOOLS["show_escalation"]: "page statuses are read from escalation_list instead",
    TOOLS["find_alerts"]: "alert events cannot be read back through MCP (dispatch does not need it)",
    TOOLS["acknowledge_escalation"]: "acknowledgements are recorded but not sent to incident.io",
}


def call_findings(call: PlannedCall, schemas: dict[str, dict[str, Any]]) -> list[tuple[Level, str | None, str]]:
    """(level, field, what) for one call; `what` follows "tool (purposes)" unless it starts with "the server"."""
    schema = schemas.get(call.tool)
    if schema is None:
        if call.tool == TOOLS["escalate"]:
            return []  # reported once, with the rules that page, by check_page_fallback
        if call.tool in FALLBACKS:
            return [("warn", None, f"the server offers no {call.tool}: {FALLBACKS[call.tool]}")]
        return [("error", None, f"the server offers no {call.tool}, needed for {call.purpose}")]
    violation = schema_violation(schema, call.sent)
    if violation is not None:
        field_path, message = violation
        return [("error", field_path, f"our arguments break its schema at {field_path!r}: {message}")]
    properties = set(schema.get("properties") or {})
    listed = ", ".join(sorted(properties)) or "no properties"
    found: list[tuple[Level, str | None, str]] = []
    for name in [name for name in call.full if name not in call.sent]:
        if name in GUARANTEES:
            fallback = UNKEYED_FALLBACK.get(call.tool, "") if name == "idempotency_key" else ""
            found.append(
                (
                    "error",
                    name,
                    f"its schema has no {name!r}, so the schema filter drops it ({GUARANTEES[name]})"
                    + (f"; dispatch falls back: {fallback}" if fallback else "")
                    + f"; it lists: {listed}",
                )
            )
        else:
            found.append(("warn", name, f"its schema has no {name!r}; it is not sent"))
    for name in [name for name in call.sent if properties and name not in properties]:
        # a required argument we always send, though the schema does not list it
        level: Level = "error" if name in GUARANTEES else "warn"
        found.append((level, name, f"we send {name!r}, which its schema does not list (renamed? it lists: {listed})"))
    return found or [("ok", None, "fits the advertised schema")]


def check_calls(calls: list[PlannedCall], schemas: dict[str, dict[str, Any]], report: DoctorReport) -> None:
    """One finding per tool and problem, naming every use it affects."""
    grouped: dict[tuple[Level, str, str | None, str], list[str]] = {}
    for call in calls:
        for level, field_name, what in call_findings(call, schemas):
            purposes = grouped.setdefault((level, call.tool, field_name, what), [])
            if call.purpose not in purposes:
                purposes.append(call.purpose)
    for (level, tool, field_name, what), purposes in grouped.items():
        text = what if what.startswith("the server") else f"{tool} ({'; '.join(purposes)}): {what}"
        report.add(level, text, tool=tool, field=field_name)


def check_permissive(tool: str, schema: dict[str, Any], report: DoctorReport) -> None:
    properties = schema.get("properties") or {}
    if not properties:
        report.add(
            "warn",
            f"{tool}: its schema lists no properties, so nothing we send can be checked: a misnamed argument "
            "would pass unnoticed (and the schema filter keeps only the required ones)",
            tool=tool,
        )
    elif schema.get("additionalProperties", True) is not False:
        report.add(
            "warn",
            f"{tool}: its schema allows additional properties, so a misnamed argument would pass unnoticed",
            tool=tool,
        )


def check_page_fallback(actions: list[tuple[str, Action]], schemas: dict[str, Any], report: DoctorReport) -> None:
    """Without escalation_create a rule pages through its alert source, else its pages are dead-lettered."""
    tool = TOOLS["escalate"]
    paging = sorted(
        {(rule, action.alert_source_config_id or "") for rule, action in actions if isinstance(action, Escalate)}
    )
    if tool in schemas or not paging:
        if tool not in schemas:
            report.add(
                "warn", f"the server offers no {tool}: no rule pages now, but an escalate rule could not", tool=tool
            )
        return
    for rule, source in paging:
        if source:
            report.add(
                "warn",
                f"the server offers no {tool}: rule {rule!r} pages through its alert source {source} "
                "(its incident.io alert route must escalate)",
                tool=tool,
            )
        else:
            report.add(
                "error",
                f"the server offers no {tool}: rule {rule!r}'s pages would be dead-lettered: {NO_ESCALATION_TOOL}",
                tool=tool,
            )


def needed_roles(actions: list[tuple[str, Action]]) -> list[str]:
    """The API key roles the rules need (reference: incidentio-surface.md section 4)."""
    roles = {"viewer"}
    for _, action in actions:
        if isinstance(action, OpenIncident):
            roles.add("incident_creator")
        elif isinstance(action, UpdateIncident | ResolveIncident):
            roles.add("incident_editor")
            if isinstance(action, ResolveIncident) and action.close:
                roles.add("post_incident_flow_opt_out")
        elif isinstance(action, Escalate):
            roles.add("escalation_creator")
    return sorted(roles)


def find_identity(organisation_document: dict[str, Any]) -> dict[str, Any] | None:
    """An identity the organisation document carries (no server is known to; None when it does not)."""
    for key in IDENTITY_KEYS:
        if isinstance(organisation_document.get(key), dict):
            found: dict[str, Any] = organisation_document[key]
            return found
    return None


def check_identity(identity: dict[str, Any] | None, source: str, roles_needed: list[str], report: DoctorReport) -> None:
    if identity is None:
        report.add(
            "warn",
            "the server does not say whose key this is or which roles it has: check it in incident.io "
            f"(Settings → API keys); the rules need {', '.join(roles_needed)}",
        )
        return
    wrapped = identity.get("identity")
    inner: dict[str, Any] = wrapped if isinstance(wrapped, dict) else identity
    name = inner.get("name") or inner.get("id") or "(unnamed)"
    roles = sorted(str(role) for role in inner.get("roles") or [])
    report.add("ok", f"the key is {name!r} ({source}); roles: {', '.join(roles) or 'none listed'}")
    missing = [role for role in roles_needed if role not in roles]
    if roles and missing:
        report.add("error", f"the key lacks roles the rules need: {', '.join(missing)}", field="roles")
