"""What alert-courier remembers about one alert group between webhooks (one record per group)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .alert import Alert


def group_id_for(alert: Alert) -> str:
    return hashlib.sha256(f"{alert.source}\x1f{alert.group_key}".encode()).hexdigest()[:32]


class GroupState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    group_id: str
    source: str = ""
    group_key: str = ""
    version: int = 0  # optimistic lock: every save expects the version it read
    generation: int = 0  # how many incidents this group has opened so far
    incident_id: str | None = None
    incident_reference: str | None = None
    incident_open: bool = False
    firing: dict[str, str] = Field(default_factory=dict, description="dedup key → startsAt of the live firing")
    resolved_through: dict[str, str] = Field(
        default_factory=dict, description="dedup key → startsAt of the last firing seen resolved"
    )
    updated_at: datetime | None = None
