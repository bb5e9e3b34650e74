"""`doctor`'s fit check on a server's schemas and organisation document (no server: plain data): a renamed
argument, a permissive schema, a missing idempotency key, an empty organisation and a missing escalation_create
each make it fail or warn, naming the tool and the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from alert_courier.domain.rules import load_rules, parse_rules
from alert_courier.operator_tools.doctor_fit import DoctorReport, Finding, check_fit

PATH = "01HR716FJW92V81E5128Q6RW31"
PAGING = parse_rules(f"rules: [{{name: page, actions: [open_incident, {{escalate: {{escalation_path_id: {PATH}}}}}]}}]")
PAGING_THROUGH_SOURCE = parse_rules(
    "rules: [{name: routed, actions: [{alert_event: {alert_source_config_id: src-1}}, open_incident, "
    f"{{escalate: {{escalation_path_id: {PATH}}}}}]}}]"
)


@pytest.fixture
def schemas() -> dict[str, dict[str, Any]]:
    from alert_courier_local.simulator.schemas import load_tool_schemas

    return {name: copy.deepcopy(entry["inputSchema"]) for name, entry in load_tool_schemas().items()}


@pytest.fixture
def organisation() -> dict[str, Any]:
    from alert_courier_local.simulator.simulator import Simulator

    return Simulator().organisation_config()


def fit(rules: Any, schemas: dict[str, Any], organisation: dict[str, Any], **options: Any) -> DoctorReport:
    report = DoctorReport()
    check_fit(rules, schemas, organisation, report, **options)
    return report


def of_level(report: DoctorReport, level: str) -> list[Finding]:
    return [finding for finding in report.findings if finding.level == level]


def test_the_simulators_own_contract_fits_the_shipped_rules(schemas: Any, organisation: Any) -> None:
    report = fit(load_rules(None), schemas, organisation)
    assert report.failures == 0, report.lines()
    checked = {finding.tool for finding in report.findings if finding.text.endswith(": fits the advertised schema")}
    assert checked >= {
        "incident_create", "incident_update", "incident_list", "incident_show", "escalation_create",
        "escalation_list", "escalation_show", "escalation_respond", "alert_list",
    }  # fmt: skip


def test_a_renamed_id_argument_fails_naming_tool_and_field(schemas: Any, organisation: Any) -> None:
    update = schemas["incident_update"]
    update["properties"]["id"] = update["properties"].pop("incident_id")
    update["required"] = ["id"]
    report = fit(load_rules(None), schemas, organisation)
    errors = of_level(report, "error")
    assert errors and all(error.tool == "incident_update" for error in errors)
    assert {error.field for error in errors} == {"id"}  # the schema's required `id` is missing from our call


def test_a_renamed_optional_argument_that_carries_a_guarantee_fails(schemas: Any, organisation: Any) -> None:
    create = schemas["incident_create"]
    create["properties"]["idempotencyKey"] = create["properties"].pop("idempotency_key")
    errors = of_level(fit(load_rules(None), schemas, organisation), "error")
    assert {(error.tool, error.field) for error in errors} == {("incident_create", "idempotency_key")}
    assert "re-checked with incident_list" in errors[0].text and "idempotencyKey" in errors[0].text


def test_a_required_argument_we_send_but_the_schema_does_not_list_fails_when_permissive(
    schemas: Any, organisation: Any
) -> None:
    update = schemas["incident_update"]
    update["properties"]["id"] = update["properties"].pop("incident_id")
    update["required"] = []
    update["additionalProperties"] = True
    report = fit(load_rules(None), schemas, organisation)
    errors = of_level(report, "error")
    assert [(error.tool, error.field) for error in errors][:1] == [("incident_update", "incident_id")]
    warnings = of_level(report, "warn")
    assert any(w.tool == "incident_update" and "additional properties" in w.text for w in warnings)


def test_a_schema_without_properties_warns_and_the_dropped_guarantees_fail(schemas: Any, organisation: Any) -> None:
    schemas["incident_create"] = {"type": "object"}
    report = fit(load_rules(None), schemas, organisation)
    assert any(w.tool == "incident_create" and "no properties" in w.text for w in of_level(report, "warn"))
    dropped = {error.field for error in of_level(report, "error") if error.tool == "incident_create"}
    assert {"idempotency_key", "summary", "severity_id"} <= dropped


def test_an_argument_without_a_guarantee_dropped_is_a_warning(schemas: Any, organisation: Any) -> None:
    del schemas["incident_update"]["properties"]["notify_incident_channel"]
    report = fit(load_rules(None), schemas, organisation)
    assert report.failures == 0
    assert any(w.field == "notify_incident_channel" and w.tool == "incident_update" for w in of_level(report, "warn"))


def test_recovery_arguments_are_checked_too(schemas: Any, organisation: Any) -> None:
    del schemas["escalation_list"]["properties"]["idempotency_key"]
    errors = of_level(fit(load_rules(None), schemas, organisation), "error")
    assert [(error.tool, error.field) for error in errors] == [("escalation_list", "idempotency_key")]
    assert "re-check of an unanswered page" in errors[0].text


def test_an_empty_organisation_fails_naming_the_documents_keys(schemas: Any) -> None:
    report = fit(load_rules(None), schemas, {"data": {"severities": []}, "meta": {}})
    error = of_level(report, "error")[0]
    assert "0 severities, 0 incident_statuses, 0 incident_types" in error.text
    assert "the document's keys: data, meta" in error.text and error.field == "severities"


def test_no_closed_status_fails(schemas: Any, organisation: Any) -> None:
    organisation["incident_statuses"] = [s for s in organisation["incident_statuses"] if s["category"] != "closed"]
    errors = of_level(fit(load_rules(None), schemas, organisation), "error")
    assert any("no status of category 'closed'" in error.text for error in errors)


def test_without_escalation_create_a_paging_rule_is_reported_dead_lettered(schemas: Any, organisation: Any) -> None:
    del schemas["escalation_create"]
    errors = of_level(fit(PAGING, schemas, organisation), "error")
    assert [(error.tool, "rule 'page'" in error.text) for error in errors] == [("escalation_create", True)]
    assert "dead-lettered" in errors[0].text


def test_without_escalation_create_a_rule_with_an_alert_source_pages_through_it(
    schemas: Any, organisation: Any
) -> None:
    del schemas["escalation_create"]
    report = fit(PAGING_THROUGH_SOURCE, schemas, organisation)
    assert report.failures == 0
    assert any("rule 'routed' pages through its alert source src-1" in w.text for w in of_level(report, "warn"))


def test_the_keys_identity_and_missing_roles_are_shown(schemas: Any, organisation: Any) -> None:
    identity = {"identity": {"name": "alert-courier prod", "roles": ["viewer", "incident_creator"]}}
    report = fit(PAGING, schemas, organisation, identity=identity, identity_source="identity_show")
    assert any("'alert-courier prod'" in f.text and "viewer" in f.text for f in of_level(report, "ok"))
    lacking = [error.text for error in of_level(report, "error")]
    assert lacking == [
        "the key lacks roles the rules need: escalation_creator, incident_editor, post_incident_flow_opt_out"
    ]


def test_json_form_keeps_tool_and_field(schemas: Any, organisation: Any) -> None:
    del schemas["incident_create"]["properties"]["idempotency_key"]
    document = fit(load_rules(None), schemas, organisation).as_json()
    failed = [check for check in document["checks"] if not check["ok"]]
    assert document["ok"] is False and document["failures"] == len(failed) == 1
    assert failed[0]["tool"] == "incident_create" and failed[0]["field"] == "idempotency_key"


class IdentityServer:
    """A server that offers an identity tool (none is known on mcp.incident.io; the macOS app's has one)."""

    def __init__(self, schemas: dict[str, Any], organisation: dict[str, Any]) -> None:
        self.schemas = {**schemas, "identity_show": {"type": "object", "properties": {}}}
        self.organisation = organisation
        self.calls: list[str] = []

    def input_schemas(self) -> dict[str, Any]:
        return self.schemas

    def read_resource(self, uri: str) -> dict[str, Any]:
        return self.organisation

    def call_tool(self, name: str, arguments: dict[str, Any], *, retry_ambiguous: bool = False) -> dict[str, Any]:
        self.calls.append(name)
        return {"identity": {"name": "courier-key", "roles": ["viewer"]}}

    def describe_server(self) -> dict[str, Any]:
        return {}


def test_doctor_reads_the_identity_a_server_offers(schemas: Any, organisation: Any) -> None:
    from alert_courier.operator_tools.doctor import check_workspace, read_workspace

    server = IdentityServer(schemas, organisation)
    report = DoctorReport()
    workspace = read_workspace(server, report)
    assert workspace is not None and server.calls == ["identity_show"]
    check_workspace(load_rules(None), workspace, report)
    assert "the key is 'courier-key' (identity_show); roles: viewer" in report.lines()[-2]
    assert report.lines()[-1].startswith("FAIL  the key lacks roles the rules need: escalation_creator")


def test_doctor_reads_an_identity_in_the_organisation_document(schemas: Any, organisation: Any) -> None:
    from alert_courier.incident_io.contract import Contract
    from alert_courier.operator_tools.doctor import check_workspace, workspace_of_contract

    roles = ["viewer", "incident_creator", "incident_editor", "post_incident_flow_opt_out"]
    organisation["identity"] = {"name": "courier-key", "roles": roles}
    contract = Contract(tools=[{"name": n, "inputSchema": s} for n, s in schemas.items()], organisation=organisation)
    report = DoctorReport()
    check_workspace(parse_rules("rules: [{name: open, actions: [open_incident]}]"), workspace_of_contract(contract),
                    report)  # fmt: skip
    assert report.failures == 0, report.lines()
    assert any("the key is 'courier-key' (config://organisation)" in line for line in report.lines())
