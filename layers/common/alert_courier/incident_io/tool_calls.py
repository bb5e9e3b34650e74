"""Every incident.io tool call goes through here: timed and counted, checked against the tools the server offers,
and paged the one way incident.io pages (`pagination_meta.after`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from alert_courier.incident_io.organisation import Organisation
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError
from alert_courier.incident_io.tool_table import ORGANISATION_RESOURCE
from alert_courier.use_cases.ports import IncidentTools, Remaining, Telemetry
from alert_courier.use_cases.telemetry import NoTelemetry

logger = logging.getLogger("alert_courier")


class ToolCalls:
    def __init__(self, tools: IncidentTools, telemetry: Telemetry | None = None) -> None:
        self._tools = tools
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        self._organisation: Organisation | None = None

    def call(
        self, tool: str, arguments: dict[str, Any], *, retry_ambiguous: bool, remaining: Remaining
    ) -> dict[str, Any]:
        started = time.monotonic()
        try:
            result = self._tools.call_tool(
                tool, arguments, retry_ambiguous=retry_ambiguous, remaining_seconds=remaining
            )
        except ToolCallError as error:
            self._telemetry.count("ToolCallErrors", tool=tool, kind=error.kind.value)
            logger.warning("tool call failed", extra={"tool": tool, "failure": error.describe()})
            raise
        elapsed_ms = (time.monotonic() - started) * 1000
        self._telemetry.timing("ToolCallLatency", elapsed_ms, tool=tool)
        logger.info("tool call", extra={"tool": tool, "milliseconds": round(elapsed_ms, 1)})
        return result

    def offers(self, tool: str) -> bool:
        return tool in self._tools.input_schemas()

    def schema(self, tool: str) -> dict[str, Any]:
        """The advertised input schema; a tool the server does not offer is a permanent failure."""
        schemas = self._tools.input_schemas()
        if tool not in schemas:
            raise ToolCallError(FailureKind.PERMANENT, f"the server offers no tool named {tool!r}", tool=tool)
        return schemas[tool]

    def accepted(self, tool: str) -> dict[str, Any]:
        """The tool's advertised arguments (empty when it lists none)."""
        return self.schema(tool).get("properties") or {}

    def organisation(self, remaining: Remaining) -> Organisation:
        if self._organisation is None:
            document = self._tools.read_resource(ORGANISATION_RESOURCE, remaining_seconds=remaining)
            self._organisation = Organisation.from_resource(document)
        return self._organisation

    def pages(
        self, tool: str, arguments: dict[str, Any], *, limit: int, remaining: Remaining
    ) -> Iterator[dict[str, Any]]:
        """A list tool's pages, at most `limit`, following `pagination_meta.after` while the tool accepts it."""
        arguments = dict(arguments)
        follows = "after" in self.accepted(tool)
        for _ in range(limit):
            page = self.call(tool, arguments, retry_ambiguous=True, remaining=remaining)
            yield page
            after = (page.get("pagination_meta") or {}).get("after")
            if not after or not follows:
                return
            arguments["after"] = after
