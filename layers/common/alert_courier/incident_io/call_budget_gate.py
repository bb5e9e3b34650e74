"""Every request to incident.io's MCP server first takes its place in the shared call budget.

A request that would have to wait longer than the caller can afford is not sent: it fails as transient, so its
action is released and retried later (the SQS redelivery or the next scheduler run) and still done once, through
the ledger. A 429 pauses the shared bucket for every container until its Retry-After has passed: incident.io is
never answered with more traffic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from alert_courier.domain.call_budget import PAGES, REQUESTS, BucketLimit, current_priority
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError
from alert_courier.use_cases.ports import CallBudget, Remaining, Telemetry
from alert_courier.use_cases.telemetry import NoTelemetry

logger = logging.getLogger("alert_courier")

MARGIN_SECONDS = 2.0  # never wait into the last seconds of an invocation


@dataclass(frozen=True)
class BudgetLimits:
    requests_per_minute: int = 1000
    pages_per_minute: int = 50
    max_wait_seconds: float = 5.0

    @property
    def requests(self) -> BucketLimit:
        return BucketLimit(REQUESTS, self.requests_per_minute)

    @property
    def pages(self) -> BucketLimit:
        return BucketLimit(PAGES, self.pages_per_minute)


class CallBudgetGate:
    def __init__(
        self,
        budget: CallBudget,
        limits: BudgetLimits | None = None,
        *,
        telemetry: Telemetry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._budget = budget
        self.limits = limits or BudgetLimits()
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        self._sleep = sleep

    def admit(self, what: str, *, pages: bool, remaining: Remaining) -> None:
        """Returns once the request may be sent (having waited if it could), else raises a transient failure."""
        buckets = [self.limits.pages, self.limits.requests] if pages else [self.limits.requests]
        priority = current_priority()
        for bucket in buckets:
            waited_ms = 0
            while wait_ms := self._budget.take(bucket, priority):
                affordable = self.limits.max_wait_seconds
                if remaining is not None:
                    affordable = min(affordable, remaining() - MARGIN_SECONDS)
                if (waited_ms + wait_ms) / 1000 > affordable:
                    self._telemetry.count("CallBudgetShort", bucket=bucket.name, priority=priority.name.lower())
                    raise ToolCallError(
                        FailureKind.TRANSIENT,
                        f"incident.io call budget {bucket.name!r} ({bucket.per_minute}/min) is spent for "
                        f"{priority.name.lower()} calls for {wait_ms / 1000:.1f}s: retried later",
                        tool=what,
                        code="call_budget",
                        retry_after=wait_ms / 1000,
                    )
                self._telemetry.timing("CallBudgetWait", float(wait_ms), bucket=bucket.name)
                self._sleep(wait_ms / 1000)
                waited_ms += wait_ms

    def rate_limited(self, retry_after_seconds: float | None) -> None:
        seconds = retry_after_seconds if retry_after_seconds is not None else 1.0
        logger.warning("incident.io answered 429: holding every container back", extra={"seconds": seconds})
        self._telemetry.count("RateLimited")
        self._budget.pause(self.limits.requests, round(seconds * 1000))
