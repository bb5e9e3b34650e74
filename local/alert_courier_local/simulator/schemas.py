"""The tool catalogue from tool_schemas.json: what tools/list advertises and how call arguments are checked."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import mcp_types

from .errors import IncidentIoError, is_required, validation_error

SCHEMA_FILE = "tool_schemas.json"


@cache
def load_tool_schemas() -> dict[str, dict[str, Any]]:
    """Tool name -> {"description", "inputSchema"}, exactly as in the data file (keys starting "_" skipped)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return {name: entry for name, entry in document.items() if not name.startswith("_")}


def tool_names() -> list[str]:
    return list(load_tool_schemas())


def input_schema(name: str) -> dict[str, Any] | None:
    entry = load_tool_schemas().get(name)
    return None if entry is None else entry["inputSchema"]


def tool_definitions() -> list[mcp_types.Tool]:
    return [
        mcp_types.Tool(name=name, description=entry["description"], input_schema=entry["inputSchema"])
        for name, entry in load_tool_schemas().items()
    ]


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_tool_schemas()[name]["inputSchema"])


def check_arguments(name: str, arguments: dict[str, Any]) -> None:
    """Raise the 422 incident.io would answer when `arguments` break the tool's advertised schema."""
    error = jsonschema.exceptions.best_match(_validator(name).iter_errors(arguments))
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
