"""The tool catalogue from a contract (contract.json, or the recording LOCAL_SIMULATOR_CONTRACT names): what
tools/list advertises and how call arguments are checked."""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import mcp_types

from alert_courier.incident_io.contract import Contract, read_contract

from .errors import IncidentIoError, is_required, validation_error

CONTRACT_FILE = "contract.json"
CONTRACT_VARIABLE = "LOCAL_SIMULATOR_CONTRACT"

Catalogue = dict[str, dict[str, Any]]  # tool name -> {"description", "inputSchema"}


@cache
def shipped_contract() -> Contract:
    text = resources.files(__package__).joinpath(CONTRACT_FILE).read_text(encoding="utf-8")
    return Contract.from_document(json.loads(text), CONTRACT_FILE)


@cache
def _recorded_contract(path: str) -> Contract:
    return read_contract(path)


def default_contract() -> Contract:
    """The recording LOCAL_SIMULATOR_CONTRACT names (raises ContractError when it cannot be read), else the
    simulator's own."""
    path = os.environ.get(CONTRACT_VARIABLE, "").strip()
    return _recorded_contract(path) if path else shipped_contract()


_catalogues: dict[int, tuple[Contract, Catalogue]] = {}  # by the contract's identity: one catalogue each
_validators: dict[int, tuple[dict[str, Any], jsonschema.Draft202012Validator]] = {}  # by the schema's identity


def catalogue_of(contract: Contract) -> Catalogue:
    """The contract's tools by name (built once per contract; treat it as read-only)."""
    cached = _catalogues.get(id(contract))
    if cached is not None and cached[0] is contract:
        return cached[1]
    catalogue = {
        str(tool["name"]): {"description": str(tool.get("description") or ""), "inputSchema": tool["inputSchema"]}
        for tool in contract.tools
    }
    _catalogues[id(contract)] = (contract, catalogue)
    return catalogue


def load_tool_schemas() -> Catalogue:
    """Tool name -> {"description", "inputSchema"} of the default contract."""
    return catalogue_of(default_contract())


def tool_names() -> list[str]:
    return list(load_tool_schemas())


def input_schema(name: str, catalogue: Catalogue | None = None) -> dict[str, Any] | None:
    entry = (load_tool_schemas() if catalogue is None else catalogue).get(name)
    return None if entry is None else entry["inputSchema"]


def tool_definitions(catalogue: Catalogue | None = None) -> list[mcp_types.Tool]:
    return [
        mcp_types.Tool(name=name, description=entry["description"], input_schema=entry["inputSchema"])
        for name, entry in (load_tool_schemas() if catalogue is None else catalogue).items()
    ]


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    cached = _validators.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    validator = jsonschema.Draft202012Validator(schema)
    _validators[id(schema)] = (schema, validator)
    return validator


def check_arguments(name: str, arguments: dict[str, Any], catalogue: Catalogue | None = None) -> None:
    """Raise the 422 incident.io would answer when `arguments` break the tool's advertised schema."""
    validator = _validator(input_schema(name, catalogue) or {})
    error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    if error is not None:
        raise _as_incident_io_error(error)


def _as_incident_io_error(error: jsonschema.ValidationError) -> IncidentIoError:
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "required":
        missing = [field for field in error.validator_value if field not in instance]
        field = missing[0] if missing else None
        return is_required(field or "arguments", f"{field} is required")
    if error.validator == "additionalProperties":
        known = set((error.schema or {}).get("properties", {}))
        unexpected = sorted(set(instance) - known)
        field = unexpected[0] if unexpected else None
        return validation_error(f"Unexpected argument {field!r}", field=field)
    field = ".".join(str(part) for part in error.absolute_path) or None
    prefix = f"{field}: " if field else ""
    return validation_error(f"{prefix}{error.message}", field=field)
