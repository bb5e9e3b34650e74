"""The organisation's own IDs for severities, statuses and incident types, read from `config://organisation`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
        for wrapper in ("organisation", "config"):
            if isinstance(document.get(wrapper), dict):
                document = document[wrapper]
        return cls.model_validate(document)

    def severity_id(self, name: str | None) -> str | None:
        return _id_named(self.severities, name)

    def incident_type_id(self, name: str | None) -> str | None:
        return _id_named(self.incident_types, name)

    def status_id(self, *, name: str | None = None, category: str | None = None) -> str | None:
        if name is not None:
            return _id_named(self.incident_statuses, name)
        return next((item.id for item in self.incident_statuses if item.category == category), None)

    def status_category(self, status_id: str | None) -> str | None:
        return next((item.category for item in self.incident_statuses if item.id == status_id), None)


def _id_named(items: list[NamedItem], name: str | None) -> str | None:
    if not name:
        return None
    wanted = name.strip().lower()
    return next((item.id for item in items if item.name.lower() == wanted or item.id == name), None)
