"""Prometheus Alertmanager webhook (payload version 4): the model of what it sends and its normaliser."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.severity import severity_from_word
from alert_courier.sources.fields import UtcDatetime

_ZERO_TIME_YEAR = 1  # Alertmanager sends 0001-01-01T00:00:00Z as endsAt while an alert fires


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: UtcDatetime | None = Field(default=None, alias="startsAt")
    ends_at: UtcDatetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class AlertmanagerNotification(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

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


def normalise_alertmanager(notification: AlertmanagerNotification) -> list[Alert]:
    """One normalised alert per entry; status is read per alert, never from the group's top-level status."""
    return [_normalise_one(notification, entry) for entry in notification.alerts]


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
        dedup_key=entry.fingerprint or _fingerprint(labels),
        group_key=notification.group_key,
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
        },
    )


def real_time(moment: datetime | None) -> datetime | None:
    """None for the zero time Alertmanager-shaped senders (Grafana too) use while an alert fires."""
    return None if moment is None or moment.year == _ZERO_TIME_YEAR else moment


def _fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager always sends one; this stands in for hand-made payloads without it."""
    canonical = "\x1f".join(f"{key}={labels[key]}" for key in sorted(labels))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
