"""`alert-courier doctor`: what a workspace's incident.io MCP server offers, checked against what alert-courier
sends (doctor_fit), recorded to a contract file (`--record`), or exercised end to end (`--smoke`, doctor_smoke).

The facts come from a live server (the key from the deployment's secret or an environment variable) or from a
recorded contract (`--contract FILE`, offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alert_courier.domain.rules import RuleSet
from alert_courier.incident_io.contract import Contract, recorded, write_contract
from alert_courier.incident_io.tool_errors import ToolCallError
from alert_courier.incident_io.tool_table import ORGANISATION_RESOURCE
from alert_courier.operator_tools.doctor_fit import IDENTITY_TOOLS, DoctorReport, check_fit, find_identity


class McpServer(Protocol):
    """What doctor needs of `incident_io.mcp_client.IncidentIoMcp`."""

    def input_schemas(self) -> dict[str, dict[str, Any]]: ...

    def read_resource(self, uri: str) -> dict[str, Any]: ...

    def call_tool(self, name: str, arguments: dict[str, Any], *, retry_ambiguous: bool = False) -> dict[str, Any]: ...

    def describe_server(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Workspace:
    """What doctor judges: the advertised schemas, the organisation document and (if exposed) the key's identity."""

    schemas: dict[str, dict[str, Any]]
    organisation: dict[str, Any]
    identity: dict[str, Any] | None = None
    identity_source: str = ""


def workspace_of_contract(contract: Contract) -> Workspace:
    identity = find_identity(contract.organisation)
    return Workspace(contract.input_schemas(), contract.organisation, identity, f"{ORGANISATION_RESOURCE}")


def read_workspace(server: McpServer, report: DoctorReport) -> Workspace | None:
    """The live server's facts; None (with the reason in `report`) when it cannot be read."""
    try:
        schemas = server.input_schemas()
    except ToolCallError as error:
        report.add("error", f"MCP server unreachable or refused the key: {error.describe()}")
        return None
    report.add("ok", "MCP server answers with the key")
    try:
        organisation = server.read_resource(ORGANISATION_RESOURCE)
    except ToolCallError as error:
        report.add("error", f"{ORGANISATION_RESOURCE} unreadable: {error.describe()}", field=ORGANISATION_RESOURCE)
        return None
    identity, source = find_identity(organisation), ORGANISATION_RESOURCE
    tool = next((name for name in IDENTITY_TOOLS if name in schemas), None)
    if identity is None and tool is not None:
        try:
            identity, source = server.call_tool(tool, {}, retry_ambiguous=True), tool
        except ToolCallError as error:
            report.add("warn", f"{tool} failed, so the key's identity is unknown: {error.describe()}", tool=tool)
    return Workspace(schemas, organisation, identity, source)


def check_workspace(rules: RuleSet, workspace: Workspace, report: DoctorReport) -> None:
    check_fit(
        rules,
        workspace.schemas,
        workspace.organisation,
        report,
        identity=workspace.identity,
        identity_source=workspace.identity_source,
    )


def record_contract(server: McpServer, organisation: dict[str, Any], path: str, *, url: str, key: str) -> Contract:
    """Writes the server's tools/list, resources and organisation document to `path`; the key never appears."""
    contract = recorded(server.describe_server(), organisation, url=url, secrets=[key])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_contract(contract, path)
    return contract
