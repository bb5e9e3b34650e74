"""The side effects a decision can ask for, as plain data. Executed by `courier`, shown by `explain`."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alert_courier.domain.alert import Severity


def _idempotency_key(action_key: str) -> str:
    return "alert-courier-" + hashlib.sha256(action_key.encode()).hexdigest()[:40]


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str
    reason: str

    @property
    def action_key(self) -> str:
        """Stable identity of this side effect: the same decision on a redelivery gives the same key."""
        raise NotImplementedError

    @property
    def idempotency_key(self) -> str:
        return _idempotency_key(self.action_key)


class OpenIncident(_Action):
    kind: Literal["open_incident"] = "open_incident"
    generation: int = Field(ge=1)
    name: str
    summary: str
    severity: Severity
    severity_name: str | None = None
    incident_type: str | None = None
    mode: str = "standard"
    visibility: str = "public"
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def action_key(self) -> str:
        return f"open_incident#{self.group_id}#{self.generation}"


def incident_key(group_id: str, generation: int) -> str:
    """The key an incident opened for this group and episode prints in its summary (`alert-courier key: …`)."""
    return _idempotency_key(f"open_incident#{group_id}#{generation}")


def opened_incident_fields(result: dict[str, Any]) -> dict[str, Any]:
    """What a state remembers once an OpenIncident has been performed (group and heartbeat states alike)."""
    return {
        "incident_open": True,
        "incident_id": result.get("incident_id"),
        "incident_reference": result.get("incident_reference"),
    }


def opened_in(results: list[dict[str, Any]] | Any) -> str | None:
    """The incident an OpenIncident among these results opened (its result names a reference; a resolve's or an
    update's does not), the latest first."""
    return next(
        (str(r["incident_id"]) for r in reversed(list(results)) if "incident_reference" in r and r.get("incident_id")),
        None,
    )


class ResolveIncident(_Action):
    """Posts the recovery in the incident's summary and, unless only an update was asked for, resolves it."""

    kind: Literal["resolve_incident"] = "resolve_incident"
    generation: int = Field(ge=1)
    incident_id: str
    summary: str
    close: bool = True
    status_name: str | None = None

    @property
    def action_key(self) -> str:
        return f"resolve_incident#{self.group_id}#{self.generation}"


class UpdateIncident(_Action):
    """Raises an open incident's severity when a firing alert of its group is more severe than any before."""

    kind: Literal["update_incident"] = "update_incident"
    generation: int = Field(ge=1)
    incident_id: str
    severity: Severity
    severity_name: str | None = None

    @property
    def action_key(self) -> str:
        return f"update_incident#{self.group_id}#{self.generation}#{self.severity.value}"


class ReopenIncident(_Action):
    """Sets a recently resolved incident live again for its group's new episode (a rule's `reopen_within`)."""

    kind: Literal["reopen_incident"] = "reopen_incident"
    generation: int = Field(ge=1)
    incident_id: str
    summary: str
    fallback: OpenIncident  # opened instead if incident.io refuses to set a closed incident live again

    @property
    def action_key(self) -> str:
        return f"reopen_incident#{self.group_id}#{self.generation}"


class FlappingUpdate(_Action):
    """Posts, once per flapping spell, that the group is flapping and its incident is held open until stable."""

    kind: Literal["flapping_update"] = "flapping_update"
    generation: int = Field(ge=1)
    incident_id: str
    summary: str
    spell: str  # when the spell began (sortable UTC): one update per spell

    @property
    def action_key(self) -> str:
        return f"flapping_update#{self.group_id}#{self.generation}#{self.spell}"


class StormUpdate(_Action):
    """Lists a storm incident's groups, when its firing alerts have doubled since the last list (domain.storm)."""

    kind: Literal["storm_update"] = "storm_update"
    generation: int = Field(ge=1)
    incident_id: str
    summary: str
    firing: int  # the storm's firing alerts the list counts: one update per doubling

    @property
    def action_key(self) -> str:
        return f"storm_update#{self.group_id}#{self.generation}#{self.firing}"


class SendAlertEvent(_Action):
    """Fires or resolves an alert in an incident.io HTTP alert source (REST, the source's own token)."""

    kind: Literal["alert_event"] = "alert_event"
    alert_source_config_id: str
    transition_id: str
    status: Literal["firing", "resolved"]
    deduplication_key: str
    title: str
    description: str = ""
    source_url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def action_key(self) -> str:
        return f"alert_event#{self.alert_source_config_id}#{self.transition_id}"


class Escalate(_Action):
    """Pages an escalation path or users (draft, then execute) once per incident generation and level."""

    kind: Literal["escalate"] = "escalate"
    generation: int = Field(ge=0)
    level: int = Field(default=0, ge=0)
    title: str
    description: str = ""
    escalation_path_id: str | None = None
    user_ids: list[str] | None = None
    link_incident: bool = True
    # The rule's alert source: if the server offers no escalation tool, its incident.io alert route pages instead.
    alert_source_config_id: str | None = None

    @property
    def action_key(self) -> str:
        return f"escalate#{self.group_id}#{self.generation}#{self.level}"


class AcknowledgeEscalation(_Action):
    kind: Literal["acknowledge_escalation"] = "acknowledge_escalation"
    escalation_id: str

    @property
    def action_key(self) -> str:
        return f"acknowledge#{self.escalation_id}"


Action = Annotated[
    OpenIncident
    | ResolveIncident
    | UpdateIncident
    | ReopenIncident
    | FlappingUpdate
    | StormUpdate
    | SendAlertEvent
    | Escalate
    | AcknowledgeEscalation,
    Field(discriminator="kind"),
]
