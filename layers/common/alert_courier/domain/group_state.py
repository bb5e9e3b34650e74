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


class FlapState(BaseModel):
    """Flap control's memory of a group (domain.flap_control): its recent changes, a hold or a flapping spell."""

    model_config = ConfigDict(extra="ignore")

    changes: list[datetime] = Field(default_factory=list, description="recent quiet/firing changes (bounded)")
    hold_until: datetime | None = None  # the episode's incident opens then if the group still fires
    stable_due: datetime | None = None  # the held-open incident resolves then if the group stayed quiet
    stable_for: float | None = None  # seconds: the flap rule's `within`
    spell: datetime | None = None  # a flapping spell began (its one update was asked for)
    resolved_at: datetime | None = None  # the group's incident was last resolved (for `reopen_within`)
    deferred: list[Action] = Field(default_factory=list, description="what the hold's or the spell's end does")

    @property
    def idle(self) -> bool:
        return self.hold_until is None and self.stable_due is None and not self.deferred


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
    updated_at: datetime | None = None
    flap: FlapState = Field(default_factory=FlapState)
