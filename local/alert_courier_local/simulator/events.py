"""One readable event per tool call or REST hit, for the `on_event` hook (the local stack prints them)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Arguments worth showing in an event line, in this order; the rest are summarised by count.
SHOWN_ARGUMENTS = (
    "name",
    "title",
    "id",
    "incident_id",
    "incident_status_id",
    "severity_id",
    "action",
    "suggestion_id",
    "escalation_path_id",
    "response",
    "idempotency_key",
    "deduplication_key",
    "status",
)
MAX_VALUE_LENGTH = 60


@dataclass(frozen=True)
class SimEvent:
    kind: str  # "tool", "alert_event" or "heartbeat"
    name: str  # tool name or alert source config id
    arguments: Mapping[str, Any]
    outcome: str  # e.g. "INC-1", "error 422 invalid_value severity_id", "fault http_error 503"

    @property
    def line(self) -> str:
        """e.g. `sim  tool incident_create name="disk full" -> INC-1`."""
        shown = " ".join(f"{k}={_short(self.arguments[k])}" for k in SHOWN_ARGUMENTS if k in self.arguments)
        middle = f" {shown}" if shown else ""
        return f"sim  {self.kind} {self.name}{middle} -> {self.outcome}"


EventHook = Callable[[SimEvent], None]


def describe_result(tool: str, result: Mapping[str, Any]) -> str:
    """The short outcome of a successful tool call."""
    if "incident" in result:
        incident = result["incident"]
        moved = f" ({incident['incident_status']['name']})" if tool == "incident_update" else ""
        return f"{incident['reference']}{moved}"
    if "escalation" in result:
        escalation = result["escalation"]
        return f"escalation {escalation['id']} ({escalation['status']})"
    if "alert" in result:
        return f"alert {result['alert']['id']} ({result['alert']['status']})"
    if "suggestion_id" in result:
        return f"draft {result['suggestion_id']} (nobody paged)"
    listed = [value for value in result.values() if isinstance(value, list)]
    if listed:
        return f"{len(listed[0])} item(s)"
    return "ok"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_LENGTH else text[: MAX_VALUE_LENGTH - 1] + '…"'
