"""What alert-courier remembers about one alert group between webhooks (one record per group)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from alert_courier.domain.actions import Action
from alert_courier.domain.alert import Severity


def state_id_for(source: str, state_key: str) -> str:
    return hashlib.sha256(f"{source}\x1f{state_key}".encode()).hexdigest()[:32]


class PendingEscalation(BaseModel):
    """A later escalation level waiting for its time, unless someone acknowledges first (the scheduler's job)."""

    model_config = ConfigDict(extra="ignore")

    level: int
    due_at: datetime
    escalation_path_id: str | None = None
    user_ids: list[str] | None = None
    title: str = ""
    description: str = ""
    alert_source_config_id: str | None = None  # the rule's alert source, the fallback if nothing can page


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
    opened_at: datetime | None = None
    firing: dict[str, str] = Field(default_factory=dict, description="dedup key → startsAt of the live firing")
    resolved_through: dict[str, str] = Field(
        default_factory=dict, description="dedup key → startsAt of the last firing seen resolved"
    )
    episode_rules: list[str] = Field(default_factory=list, description="rules matched when the episode started")
    escalation_ids: list[str] = Field(default_factory=list)
    pending_escalations: list[PendingEscalation] = Field(default_factory=list)
    acknowledged_at: datetime | None = None
    episode_severity: Severity | None = Field(default=None, description="the highest severity fired this episode")
    unfinished: dict[str, list[Action]] = Field(
        default_factory=dict,
        description="transition id → the actions a failure left undone; its redelivery or replay does them",
    )
    last_seen: dict[str, str] = Field(
        default_factory=dict, description="dedup key → when its firing was last received (a rule's stale_after)"
    )
    closed_by_human_at: datetime | None = Field(
        default=None, description="a person closed this episode's incident in incident.io (reconciliation saw it)"
    )
    updated_at: datetime | None = None
