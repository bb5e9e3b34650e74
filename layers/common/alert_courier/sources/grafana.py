"""Grafana unified alerting webhook contact point: what it sends, its HMAC signature, and its normaliser."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.severity import severity_from_word
from alert_courier.ingress.credentials import (
    invalid_signature,
    matches_any,
    presented_secret,
    require_shared_secret,
    signature_matches,
    stale_timestamp,
)
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.sources.alertmanager import ALERT_DECORATIONS, NOTIFICATION_DECORATIONS, read_leniently
from alert_courier.sources.alertmanager import real_time as _real_time
from alert_courier.sources.fields import UtcDatetime, decoration, notes_of

SIGNATURE_HEADERS = ("x-grafana-alerting-signature", "x-grafana-alert-signature")
TIMESTAMP_HEADERS = ("x-grafana-alerting-signature-timestamp", "x-grafana-alerting-timestamp")
TIMESTAMP_TOLERANCE = timedelta(seconds=300)

_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_DEFAULT_BODY_FIELDS = ("orgId", "groupKey", "status", "alerts")
_NO_DATA_ALERTS = {"DatasourceNoData": "No data", "DatasourceError": "Data source error"}


_ALERT_DECORATIONS = {
    **ALERT_DECORATIONS,
    "silenceURL": decoration(str),
    "dashboardURL": decoration(str),
    "panelURL": decoration(str),
    "imageURL": decoration(str),
    "values": decoration(float | None, each="entry"),
    "valueString": decoration(str),
}
_NOTIFICATION_DECORATIONS = {
    **NOTIFICATION_DECORATIONS,
    "state": decoration(str),
    "title": decoration(str),
    "message": decoration(str),
}


class GrafanaAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: UtcDatetime | None = Field(default=None, alias="startsAt")
    ends_at: UtcDatetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=256)
    silence_url: str = Field(default="", alias="silenceURL")
    dashboard_url: str = Field(default="", alias="dashboardURL")
    panel_url: str = Field(default="", alias="panelURL")
    image_url: str = Field(default="", alias="imageURL")
    rule_uid: str = Field(default="", alias="ruleUID")
    values: dict[str, float | None] | None = None
    value_string: str = Field(default="", alias="valueString")
    dropped: list[str] = Field(default_factory=list, alias="__dropped__")


class GrafanaNotification(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: str = "1"
    org_id: int = Field(alias="orgId", ge=0, lt=2**63)
    group_key: str = Field(alias="groupKey", min_length=1, max_length=1000)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    state: str = ""
    title: str = ""
    message: str = ""
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[GrafanaAlert] = Field(min_length=1)
    dropped: list[str] = Field(default_factory=list, alias="__dropped__")

    @model_validator(mode="before")
    @classmethod
    def _default_body_only(cls, document: Any) -> Any:
        """Grafana's own body, read leniently about its decorations (see `read_leniently`)."""
        if not isinstance(document, dict) or any(name not in document for name in _DEFAULT_BODY_FIELDS):
            raise PydanticCustomError(
                "custom_payload_template",
                "a custom payload template is not supported: expected Grafana's default webhook body "
                "(orgId, groupKey, status, alerts[]); clear the contact point's custom payload",
            )
        return read_leniently(document, _NOTIFICATION_DECORATIONS, _ALERT_DECORATIONS)


def authenticate_grafana(
    request: WebhookRequest,
    _document: object,
    valid: Sequence[str],
    now: datetime,
    *,
    tolerance: timedelta = TIMESTAMP_TOLERANCE,
) -> None:
    """A Bearer/Basic credential, or Grafana's HMAC-SHA256 body signature (timestamped when configured)."""
    signature = _header(request, SIGNATURE_HEADERS)
    if signature is None:
        require_shared_secret(request, valid)
        return
    credential = presented_secret(request)
    if credential is not None and matches_any(credential, valid):
        return
    message = request.body
    timestamp = _header(request, TIMESTAMP_HEADERS)
    if timestamp is not None:
        _require_fresh(timestamp, now, tolerance)
        message = timestamp.encode("ascii") + b":" + request.body
    if not signature_matches(message, signature, valid):
        raise invalid_signature("the Grafana signature does not match the body under any configured secret")


def _header(request: WebhookRequest, names: Sequence[str]) -> str | None:
    for name in names:
        if name in request.headers:
            return request.headers[name].strip()
    return None


def _require_fresh(timestamp: str, now: datetime, tolerance: timedelta) -> None:
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise invalid_signature("the signature timestamp header is not Unix seconds")
    age = now.timestamp() - int(timestamp)
    if abs(age) > tolerance.total_seconds():
        when = f"{int(age)} s old" if age > 0 else f"{int(-age)} s in the future"
        raise stale_timestamp(f"the signature timestamp is {when}; accepted within {int(tolerance.total_seconds())} s")


def normalise_grafana(notification: GrafanaNotification) -> Iterator[Alert]:
    """One alert per entry, lazily, status read per alert; Grafana's own contact-point test alerts are dropped."""
    return (_normalise_one(notification, entry) for entry in notification.alerts if not _is_test(entry))


def _is_test(entry: GrafanaAlert) -> bool:
    return entry.labels.get("alertname") == "TestAlert" and entry.labels.get("instance") == "Grafana"


def _normalise_one(notification: GrafanaNotification, entry: GrafanaAlert) -> Alert:
    labels = entry.labels
    annotations = entry.annotations
    links = {
        key: value
        for key, value in {
            "generator": entry.generator_url,
            "runbook": annotations.get("runbook_url", ""),
            "dashboard": entry.dashboard_url,
            "panel": entry.panel_url,
            "silence": entry.silence_url,
            "image": entry.image_url,
            "grafana": notification.external_url,
        }.items()
        if value
    }
    return Alert(
        source="grafana",
        dedup_key=f"{notification.org_id}/{entry.fingerprint}",
        group_key=f"{notification.org_id}/{notification.group_key}",
        status=AlertStatus(entry.status),
        severity=severity_from_word(labels.get("severity")),
        title=_title(labels, annotations)[:1024],
        description=annotations.get("description", ""),
        labels=labels,
        annotations=annotations,
        links=links,
        started_at=_real_time(entry.starts_at),
        ended_at=_real_time(entry.ends_at) if entry.status == "resolved" else None,
        raw={
            "org_id": notification.org_id,
            "receiver": notification.receiver,
            "group_labels": notification.group_labels,
            "fingerprint": entry.fingerprint,
            "severity_word": labels.get("severity", ""),
            "rule_uid": entry.rule_uid,
            "values": entry.values or {},
            "value_string": entry.value_string,
            **notes_of(notification.dropped, entry.dropped),
        },
    )


def _title(labels: dict[str, str], annotations: dict[str, str]) -> str:
    if annotations.get("summary"):
        return annotations["summary"]
    name = labels.get("alertname", "alert")
    if name in _NO_DATA_ALERTS and labels.get("rulename"):
        return f"{_NO_DATA_ALERTS[name]}: {labels['rulename']}"
    where = labels.get("instance") or ""
    return f"{name} on {where}" if where else name
