"""An MCP server's contract as a file: its tools/list (names, descriptions, input schemas), its resources and the
`config://organisation` document. `alert-courier doctor --record FILE` writes one from a real workspace; the local
simulator serves one (`LOCAL_SIMULATOR_CONTRACT=FILE`; by default its own, shipped as such a file), and `doctor`
checks one offline (`--contract FILE`). JSON, or YAML when the file name ends in .yaml/.yml.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

CONTRACT_FORMAT = "alert-courier-contract/1"
REDACTED = "<redacted>"


class ContractError(ValueError):
    """A contract file that cannot be read or is not one; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Contract:
    tools: list[dict[str, Any]]  # each {"name", "description"?, "inputSchema"} as tools/list gives them
    resources: list[dict[str, Any]] = field(default_factory=list)  # each {"uri", "name", ...}
    organisation: dict[str, Any] = field(default_factory=dict)  # config://organisation, verbatim
    server: dict[str, Any] = field(default_factory=dict)  # name, version, instructions, url
    recorded_at: str = ""
    note: str = ""

    def input_schemas(self) -> dict[str, dict[str, Any]]:
        return {str(tool["name"]): dict(tool.get("inputSchema") or {}) for tool in self.tools}

    def tool_names(self) -> list[str]:
        return [str(tool["name"]) for tool in self.tools]

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"format": CONTRACT_FORMAT}
        if self.note:
            document["_note"] = self.note
        if self.recorded_at:
            document["recorded_at"] = self.recorded_at
        document |= {
            "server": self.server,
            "tools": self.tools,
            "resources": self.resources,
            "organisation": self.organisation,
        }
        return document

    @classmethod
    def from_document(cls, document: Any, where: str) -> Contract:
        if not isinstance(document, dict):
            raise ContractError(f"{where}: not a contract (a JSON/YAML object with format {CONTRACT_FORMAT!r})")
        if document.get("format") != CONTRACT_FORMAT:
            raise ContractError(f"{where}: format is {document.get('format')!r}, expected {CONTRACT_FORMAT!r}")
        tools = document.get("tools")
        if not isinstance(tools, list) or not all(
            isinstance(tool, dict) and isinstance(tool.get("name"), str) and isinstance(tool.get("inputSchema"), dict)
            for tool in tools
        ):
            raise ContractError(f"{where}: tools must be a list of {{name, inputSchema}} objects")
        resources = document.get("resources") or []
        organisation = document.get("organisation") or {}
        if not isinstance(resources, list) or not isinstance(organisation, dict):
            raise ContractError(f"{where}: resources must be a list and organisation an object")
        return cls(
            tools=tools,
            resources=resources,
            organisation=organisation,
            server=dict(document.get("server") or {}),
            recorded_at=str(document.get("recorded_at") or ""),
            note=str(document.get("_note") or ""),
        )


def recorded(
    described: dict[str, Any], organisation: dict[str, Any], *, url: str, secrets: Iterable[str] = ()
) -> Contract:
    """A contract from what a live server said (`IncidentIoMcp.describe_server()` and the organisation), with
    every secret (the API key) replaced by a placeholder wherever the server echoed it."""
    contract = Contract(
        tools=list(described.get("tools") or []),
        resources=list(described.get("resources") or []),
        organisation=organisation,
        server={**(described.get("server") or {}), "url": url},
        recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        note="Recorded by `alert-courier doctor --record` from a live incident.io MCP server.",
    )
    return Contract.from_document(_redacted(contract.to_document(), [s for s in secrets if s]), "the recording")


def _redacted(document: Any, secrets: list[str]) -> Any:
    if isinstance(document, dict):
        return {_redacted(key, secrets): _redacted(value, secrets) for key, value in document.items()}
    if isinstance(document, list):
        return [_redacted(item, secrets) for item in document]
    if isinstance(document, str):
        for secret in secrets:
            document = document.replace(secret, REDACTED)
    return document


def read_contract(path: str | Path) -> Contract:
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ContractError(f"cannot read the contract {where}: {error.strerror or error}") from None
    as_yaml = where.endswith((".yaml", ".yml"))
    try:
        document = yaml.safe_load(text) if as_yaml else json.loads(text)
    except (ValueError, yaml.YAMLError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        raise ContractError(f"{where}: not valid {'YAML' if as_yaml else 'JSON'}: {first_line}") from None
    return Contract.from_document(document, where)


def write_contract(contract: Contract, path: str | Path) -> None:
    where = str(path)
    document = contract.to_document()
    if where.endswith((".yaml", ".yml")):
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")
