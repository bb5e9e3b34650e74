"""What one scheduled run did; returned by the scheduler Lambda and logged."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alert_courier.use_cases.ports import Remaining

MIN_SECONDS_LEFT = 5.0  # don't start on another heartbeat or group with less time than this left


@dataclass
class RunReport:
    now: datetime
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    heartbeats_checked: int = 0
    missed: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    timers_due: int = 0
    escalated: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # groups whose pending levels an acknowledgement ended
    stale_timers: int = 0
    busy: list[str] = field(default_factory=list)  # another run holds the claim: it will finish the job
    errors: list[str] = field(default_factory=list)
    deferred: int = 0  # left for the next run (out of time)
    held_replayed: list[str] = field(default_factory=list)  # window:alert handed on at a maintenance window's end
    windows_settled: list[str] = field(default_factory=list)  # maintenance windows whose end is fully done
    inhibited_replayed: list[str] = field(default_factory=list)  # entry:alert handed on once its sources resolved
    flap_controlled: list[str] = field(default_factory=list)  # group: what a hold's or a flapping spell's end did
    reconciled: list[str] = field(default_factory=list)  # the reconcile pass's changes, one line each

    def summary(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "run_id": self.run_id,
            "heartbeats_checked": self.heartbeats_checked,
            "missed": self.missed,
            "recovered": self.recovered,
            "forwarded": self.forwarded,
            "timers_due": self.timers_due,
            "escalated": self.escalated,
            "cancelled": self.cancelled,
            "stale_timers": self.stale_timers,
            "busy": self.busy,
            "errors": self.errors,
            "deferred": self.deferred,
            "held_replayed": self.held_replayed,
            "windows_settled": self.windows_settled,
            "inhibited_replayed": self.inhibited_replayed,
            "flap_controlled": self.flap_controlled,
            "reconciled": self.reconciled,
        }

    @property
    def acted(self) -> bool:
        return bool(
            self.missed
            or self.recovered
            or self.escalated
            or self.cancelled
            or self.errors
            or self.held_replayed
            or self.inhibited_replayed
            or self.flap_controlled
            or self.reconciled
        )


def out_of_time(remaining: Remaining) -> bool:
    return remaining is not None and remaining() < MIN_SECONDS_LEFT
