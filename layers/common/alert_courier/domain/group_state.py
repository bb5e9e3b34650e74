"""What alert-courier remembers about one alert group between webhooks (one record per group)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

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
    storm_rule: str | None = None  # the hold is a storm rule's `wait`: at its end the group may join the storm

    @property
    def idle(self) -> bool:
        return self.hold_until is None and self.stable_due is None and not self.deferred


class StormMembers(BaseModel):
    """A storm group's member groups in its current episode (domain.storm): the first ones named."""

    model_config = ConfigDict(extra="ignore")

    generation: int = 0  # the storm episode these are of
    names: list[str] = Field(default_factory=list, description="the first member group keys (bounded)")
    more: bool = False  # more groups joined than are named
    listed: int = 0  # the firing alerts the storm incident's last list counted


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
    resolved_at: dict[str, str] = Field(
        default_factory=dict, description="dedup key → when its resolved_through was recorded (kept a week)"
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
    # The store's bookkeeping: when it last wrote this group into its index of groups held open (the reconcile
    # pass reads the index); kept here so a save writes the index item once per episode, not once per save.
    open_indexed_at: datetime | None = None
    flap: FlapState = Field(default_factory=FlapState)
    storm_members: StormMembers | None = None  # only a storm group's (group key `storm:<rule>`)


# Longer than a message can wait before it is acted on: 4 days in the queue, then 14 in the dead-letter queue
# before someone replays it (template.yaml's retention periods; tests/template checks the sum stays below this).
RESOLVED_MEMORY = timedelta(days=21)


def remember_resolutions(before: GroupState, after: GroupState, now: datetime) -> GroupState:
    """Stamps each resolution `after` records anew with the time it was recorded, and forgets those recorded
    longer ago than RESOLVED_MEMORY (past it no copy of the firing can still be delivered), else a long-lived
    group's record would grow with every alert it ever resolved (DynamoDB items stop at 400 KB). The memory
    counts from the resolve, not from the firing's start: an alert that fired for weeks and just resolved must
    still recognise a late copy of its firing as stale (else it opens a second incident)."""
    recorded = now.isoformat()
    horizon = (now - RESOLVED_MEMORY).isoformat()
    resolved_at: dict[str, str] = {}
    for key, through in after.resolved_through.items():
        unchanged = before.resolved_through.get(key) == through
        # a record from before resolved_at existed counts from now: a week more memory, never less
        resolved_at[key] = after.resolved_at.get(key, recorded) if unchanged else recorded
    kept = {key: at for key, at in resolved_at.items() if at >= horizon}
    if kept == after.resolved_at and len(kept) == len(after.resolved_through):
        return after
    return after.model_copy(
        update={
            "resolved_through": {key: after.resolved_through[key] for key in kept},
            "resolved_at": kept,
        }
    )
