"""incident.io's own view of the incidents alert-courier holds open, for the reconcile pass: which of them a person
closed (or declined, merged, moved to post-incident) — read with `incident_show`, one call per incident, drawn from
the shared call budget at the lowest priority (`Priority.BACKGROUND`), so that reconciling never delays a page,
an opening, a resolve or an update."""

from __future__ import annotations

import logging

from alert_courier.domain.call_budget import Priority, calls_for
from alert_courier.incident_io.executor import CLOSED_CATEGORIES
from alert_courier.incident_io.tool_calls import ToolCalls
from alert_courier.incident_io.tool_errors import ToolCallError
from alert_courier.incident_io.tool_table import TOOLS, incident_from_result
from alert_courier.use_cases.ports import IncidentTools, Remaining, Telemetry

logger = logging.getLogger("alert_courier")


class IncidentIoStatuses:
    """A `use_cases.reconciliation.IncidentStatuses` over incident.io's MCP tools."""

    def __init__(self, tools: IncidentTools, telemetry: Telemetry | None = None, *, max_per_pass: int = 200) -> None:
        self._calls = ToolCalls(tools, telemetry)
        self._max_per_pass = max_per_pass
        self.remaining: Remaining = None

    def closed_by_others(self, incident_ids: list[str]) -> dict[str, str]:
        closed: dict[str, str] = {}
        with calls_for(Priority.BACKGROUND):
            for incident_id in incident_ids[: self._max_per_pass]:  # the rest: the next pass
                try:
                    shown = self._calls.call(
                        TOOLS["show_incident"], {"id": incident_id}, retry_ambiguous=True, remaining=self.remaining
                    )
                except ToolCallError as error:  # incident.io failed, or the budget ran short: ask next pass
                    logger.warning(
                        "reconcile: incident status unread",
                        extra={"incident_id": incident_id, "failure": error.describe()},
                    )
                    if error.code == "call_budget":
                        break  # the lowest priority gives way: the rest wait for the next pass
                    continue
                incident = incident_from_result(shown)
                status = incident.get("incident_status") or {}
                if not isinstance(status, dict):
                    continue
                organisation = self._calls.organisation(self.remaining)
                category = status.get("category") or organisation.status_category(
                    organisation.status_id(name=status.get("name"))
                )
                if category in CLOSED_CATEGORIES:
                    reference = incident.get("reference") or incident_id
                    closed[incident_id] = f"incident.io says {reference} is {status.get('name') or category}"
        return closed
