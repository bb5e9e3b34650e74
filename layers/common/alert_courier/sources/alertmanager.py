"""Prometheus Alertmanager webhook (payload version 4): the model of what it sends and its normaliser."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator
from pydantic_core import PydanticCustomError

from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.severity import severity_from_word
from alert_courier.sources.fields import (
    Decoration,
    UtcDatetime,
    bounded_key,
    decoration,
    drop_malformed,
    notes_of,
)

_ZERO_TIME_YEAR = 1  # Alertmanager sends 0001-01-01T00:00:00Z as endsAt while an alert fires


ALERT_DECORATIONS = {
    "generatorURL": decoration(str),
    "annotations": decoration(str, each="entry"),
}
NOTIFICATION_DECORATIONS = {
    "receiver": decoration(str),
    "externalURL": decoration(str),
    "groupLabels": decoration(str, each="entry"),
    "commonLabels": decoration(str, each="entry"),
    "commonAnnotations": decoration(str, each="entry"),
    "truncatedAlerts": decoration(NonNegativeInt),
}
_FROM_THE_NOTIFICATION = {"status": "status", "labels": "commonLabels", "annotations": "commonAnnotations"}


def read_leniently(
    data: Any, decorations: Mapping[str, Decoration], alert_decorations: Mapping[str, Decoration]
) -> Any:
    """An Alertmanager-shaped body (Grafana's too) with malformed decorations dropped, each with a note.

    An alert without its own `status`, `labels` or `annotations` (Alertmanager before 0.6, some proxies) takes
    the notification's `status`, `commonLabels` or `commonAnnotations`, with a note saying so.
    """
    data = drop_malformed(data, decorations)
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        return data
    alerts = []
    for entry in data["alerts"]:
        if isinstance(entry, dict):
            defaulted = {
                own: data[common]
                for own, common in _FROM_THE_NOTIFICATION.items()
                if own not in entry and data.get(common) is not None
            }
            notes = [f"{own} missing: the notification's {_FROM_THE_NOTIFICATION[own]} is used" for own in defaulted]
            entry = drop_malformed({**entry, **defaulted}, alert_decorations, notes)
        alerts.append(entry)
    return {**data, "alerts": alerts}


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: UtcDatetime | None = Field(default=None, alias="startsAt")
    ends_at: UtcDatetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""
    dropped: list[str] = Field(default_factory=list, alias="__dropped__")


class AlertmanagerNotification(BaseModel):
    """Payload version 4, and the legacy version 3 (a numeric groupKey, no fingerprints)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)

    version: str = "4"
    group_key: str = Field(alias="groupKey", min_length=1)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertmanagerAlert] = Field(min_length=1)
    dropped: list[str] = Field(default_factory=list, alias="__dropped__")

    @model_validator(mode="before")
    @classmethod
    def _lenient_about_decorations(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError(
                "custom_payload_template",
                "expected Alertmanager's webhook body (a JSON object with groupKey, status, alerts[]); "
                "a custom `payload` template is not supported: remove it from the webhook_config",
            )
        return read_leniently(data, NOTIFICATION_DECORATIONS, ALERT_DECORATIONS)


def normalise_alertmanager(notification: AlertmanagerNotification) -> Iterator[Alert]:
    """One normalised alert per entry, lazily; status is read per alert, never from the group's top-level status."""
    return (_normalise_one(notification, entry) for entry in notification.alerts)


def _normalise_one(notification: AlertmanagerNotification, entry: AlertmanagerAlert) -> Alert:
    labels = entry.labels
    annotations = entry.annotations
    name = labels.get("alertname", "alert")
    where = labels.get("instance") or labels.get("job") or ""
    title = annotations.get("summary") or (f"{name} on {where}" if where else name)
    links = {
        key: value
        for key, value in {
            "generator": entry.generator_url,
            "runbook": annotations.get("runbook_url", ""),
            "dashboard": annotations.get("dashboard_url", "") or annotations.get("dashboard", ""),
            "alertmanager": notification.external_url,
        }.items()
        if value
    }
    return Alert(
        source="alertmanager",
        dedup_key=bounded_key(entry.fingerprint or _fingerprint(labels), 512),
        group_key=bounded_key(notification.group_key, 1024),
        status=AlertStatus(entry.status),
        severity=severity_from_word(labels.get("severity")),
        title=title[:1024],
        description=annotations.get("description", ""),
        labels=labels,
        annotations=annotations,
        links=links,
        started_at=real_time(entry.starts_at),
        ended_at=real_time(entry.ends_at) if entry.status == "resolved" else None,
        raw={
            "receiver": notification.receiver,
            "group_labels": notification.group_labels,
            "fingerprint": entry.fingerprint,
            "severity_word": labels.get("severity", ""),
            **notes_of(notification.dropped, entry.dropped),
        },
    )


def real_time(moment: datetime | None) -> datetime | None:
    """None for the zero time Alertmanager-shaped senders (Grafana too) use while an alert fires."""
    return None if moment is None or moment.year == _ZERO_TIME_YEAR else moment


def _fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager always sends one; this stands in for hand-made payloads without it."""
    canonical = "\x1f".join(f"{key}={labels[key]}" for key in sorted(labels))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
