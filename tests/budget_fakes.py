"""The shared call budget in the in-memory world: a budget the test makes run short for some classes of calls, and
the tools behind the same gate the MCP client uses (`CallBudgetGate`), recording the class of each call that
reached incident.io."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alert_courier.domain.call_budget import BucketLimit, Priority, current_priority
from alert_courier.incident_io.call_budget_gate import BudgetLimits, CallBudgetGate
from alert_courier.incident_io.tool_table import TOOLS


@dataclass
class ShortBudget:
    """A budget that admits everything, except calls of class `short_from` or lower while it is set (as the shared
    bucket does when it runs low: the lower classes wait first)."""

    short_from: Priority | None = None
    refused: list[Priority] = field(default_factory=list)

    def take(self, bucket: BucketLimit, priority: Priority) -> int:
        if self.short_from is not None and priority >= self.short_from:
            self.refused.append(priority)
            return 60_000  # longer than any invocation waits: the action is retried later
        return 0

    def pause(self, bucket: BucketLimit, retry_after_ms: int) -> None:
        """The in-memory world's tools never answer 429."""


class BudgetedTools:
    """`IncidentTools` behind the gate, as `IncidentIoMcp` is: a call the budget refuses never reaches the tools."""

    def __init__(self, tools: Any, budget: ShortBudget) -> None:
        self._tools = tools
        self.gate = CallBudgetGate(budget, BudgetLimits(max_wait_seconds=0), sleep=lambda _: None)
        self.reached: list[tuple[str, Priority]] = []

    def __getattr__(self, name: str) -> Any:  # script(), simulator, … of the tools behind
        return getattr(self._tools, name)

    def input_schemas(self, **kwargs: Any) -> dict[str, dict[str, Any]]:
        schemas: dict[str, dict[str, Any]] = self._tools.input_schemas(**kwargs)
        return schemas

    def read_resource(self, uri: str, *, remaining_seconds: Callable[[], float] | None = None) -> dict[str, Any]:
        self.gate.admit(uri, pages=False, remaining=remaining_seconds)
        document: dict[str, Any] = self._tools.read_resource(uri, remaining_seconds=remaining_seconds)
        return document

    def call_tool(self, name: str, arguments: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        pages = name == TOOLS["escalate"] and arguments.get("action") == "execute"
        self.gate.admit(name, pages=pages, remaining=kwargs.get("remaining_seconds"))
        self.reached.append((name, current_priority()))
        result: dict[str, Any] = self._tools.call_tool(name, arguments, **kwargs)
        return result
