"""The one normalised alert every monitoring source maps into, and the queue message that carries it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"


class Severity(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self.value]


class Alert(BaseModel):
    """One alert from one source, in one status. Immutable; built only by a source's normaliser."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    dedup_key: str = Field(min_length=1, max_length=512)
    group_key: str = Field(min_length=1, max_length=1024)
    status: AlertStatus
    severity: Severity = Severity.WARNING
    title: str = Field(max_length=1024)
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    links: dict[str, str] = Field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    raw: dict[str, Any] = Field(default_factory=dict, description="the source fields needed to explain it")

    @field_validator("started_at", "ended_at", "received_at")
    @classmethod
    def _in_utc(cls, moment: datetime | None) -> datetime | None:
        """One time zone, so times compare (and order) correctly whatever offset the sender used."""
        if moment is None:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def transition_id(self) -> str:
        """Stable id of this alert's transition: same webhook resent → same id."""
        # A sender that gives no start time (e.g. a PagerDuty-style trigger) is told apart by arrival time,
        # so trigger → resolve → trigger within SQS' 5-minute dedup window is not dropped as a duplicate.
        started = _iso(self.started_at) or f"received:{_iso(self.received_at)}"
        parts = [self.source, self.dedup_key, self.status.value, started, _iso(self.ended_at)]
        if self.status is AlertStatus.FIRING:
            # A change of severity is news (SQS would drop it for 5 minutes as a duplicate otherwise).
            parts.append(self.severity.value)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class AlertEnvelope(BaseModel):
    """What `ingest` puts on the queue: one alert plus the request it arrived in."""

    model_config = ConfigDict(extra="forbid")

    alert: Alert
    correlation_id: str
    truncated_alerts: int = 0


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""
