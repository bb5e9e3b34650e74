"""The organisation's own IDs for severities, statuses and incident types, read from `config://organisation`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .alert import Severity

# Which incident.io severity name each normalised severity becomes unless the rules say otherwise.
DEFAULT_SEVERITY_NAMES: dict[Severity, tuple[str, ...]] = {
    Severity.CRITICAL: ("Critical", "SEV1", "P1"),
    Severity.ERROR: ("Major", "SEV2", "P2"),
    Severity.WARNING: ("Minor", "SEV3", "P3"),
    Severity.INFO: ("Minor", "SEV4", "P4", "SEV3", "P3"),
}


class NamedItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    category: str = ""
    rank: int = 0


class Organisation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    severities: list[NamedItem] = Field(default_factory=list)
    incident_statuses: list[NamedItem] = Field(default_factory=list)
    incident_types: list[NamedItem] = Field(default_factory=list)

    @classmethod
    def from_resource(cls, document: dict[str, Any]) -> Organisation:
        return cls.model_validate(document.get("organisation", document))

    def severity_id(self, severity: Severity) -> str | None:
        by_name = {item.name.lower(): item.id for item in self.severities}
        for name in DEFAULT_SEVERITY_NAMES[severity]:
            if name.lower() in by_name:
                return by_name[name.lower()]
        return None

    def status_id(self, *, name: str | None = None, category: str | None = None) -> str | None:
        for item in self.incident_statuses:
            if name is not None and item.name.lower() == name.lower():
                return item.id
        for item in self.incident_statuses:
            if category is not None and item.category == category:
                return item.id
        return None
