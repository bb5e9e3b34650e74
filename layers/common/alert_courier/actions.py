"""The side effects a decision can ask for, as plain data. Executed by `courier`, shown by `explain`."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .alert import Severity


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str
    reason: str

    @property
    def action_key(self) -> str:
        """Stable identity of this side effect: the same decision on a redelivery gives the same key."""
        raise NotImplementedError


class OpenIncident(_Action):
    kind: Literal["open_incident"] = "open_incident"
    generation: int = Field(ge=1)
    name: str
    summary: str
    severity: Severity
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def action_key(self) -> str:
        return f"open_incident#{self.group_id}#{self.generation}"

    @property
    def idempotency_key(self) -> str:
        return "alert-courier-" + hashlib.sha256(self.action_key.encode()).hexdigest()[:40]


class ResolveIncident(_Action):
    kind: Literal["resolve_incident"] = "resolve_incident"
    generation: int = Field(ge=1)
    incident_id: str
    summary: str

    @property
    def action_key(self) -> str:
        return f"resolve_incident#{self.group_id}#{self.generation}"


Action = Annotated[OpenIncident | ResolveIncident, Field(discriminator="kind")]
