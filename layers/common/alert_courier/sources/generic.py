"""Generic incident events in the PagerDuty Events API v2 shape: the model, routing_key auth and the normaliser."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from alert_courier.domain.alert import Alert, AlertStatus, Severity
from alert_courier.ingress.credentials import presented_secret, require_one_of
from alert_courier.ingress.limits import NOTES
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.sources.fields import UtcDatetime, decoration, drop_malformed

_STATUS = {"trigger": AlertStatus.FIRING, "acknowledge": AlertStatus.ACKNOWLEDGED, "resolve": AlertStatus.RESOLVED}
_SUMMARY_LIMIT = 1024


class EventLink(BaseModel):
    model_config = ConfigDict(extra="ignore")

    href: str = Field(min_length=1)
    text: str = ""


class EventImage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    src: str = Field(min_length=1)
    href: str = ""
    alt: str = ""


_DECORATIONS = {
    "links": decoration(EventLink, each="item"),
    "images": decoration(EventImage, each="item"),
    "client": decoration(str),
    "client_url": decoration(str),
}


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=1)
    source: str = Field(min_length=1)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: UtcDatetime | None = None
    component: str = ""
    group: str = ""
    class_: str = Field(default="", alias="class")
    custom_details: Any = None


class GenericEvent(BaseModel):
    """One event. `payload` is required on trigger and ignored on acknowledge/resolve, as PagerDuty does."""

    model_config = ConfigDict(extra="ignore")

    routing_key: str = ""
    event_action: Literal["trigger", "acknowledge", "resolve"] = Field(default=None, validate_default=True)
    dedup_key: str | None = Field(default=None, max_length=255, validate_default=True)
    payload: EventPayload | None = Field(default=None, validate_default=True)
    links: list[EventLink] = Field(default_factory=list)
    images: list[EventImage] = Field(default_factory=list)
    client: str = ""
    client_url: str = ""
    dropped: list[str] = Field(default_factory=list, alias="__dropped__")

    @model_validator(mode="before")
    @classmethod
    def _drop_malformed_decorations(cls, data: Any) -> Any:
        """A bad link or image (PagerDuty's own client once sent `url` for `src`) costs the link, not the alert."""
        return drop_malformed(data, _DECORATIONS)

    @field_validator("event_action", mode="before")
    @classmethod
    def _an_alert_event(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(
                "missing",
                "required: trigger, acknowledge or resolve (a PagerDuty change event has none: it is not an alert)",
            )
        return value

    @field_validator("dedup_key")
    @classmethod
    def _required_on_follow_ups(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if value is None and info.data.get("event_action") in ("acknowledge", "resolve"):
            raise PydanticCustomError("missing", "required for acknowledge and resolve")
        return value

    @field_validator("payload", mode="before")
    @classmethod
    def _only_read_on_trigger(cls, value: Any, info: ValidationInfo) -> Any:
        return value if info.data.get("event_action") == "trigger" else None

    @field_validator("payload")
    @classmethod
    def _required_on_trigger(cls, value: EventPayload | None, info: ValidationInfo) -> EventPayload | None:
        if value is None and info.data.get("event_action") == "trigger":
            raise PydanticCustomError("missing", "required for trigger (summary, source, severity)")
        return value


def authenticate_generic(request: WebhookRequest, document: object, valid: Sequence[str], _now: datetime) -> None:
    """The body's routing_key is the integration's credential, as on PagerDuty; Bearer/Basic works too."""
    routing_key = document.get("routing_key") if isinstance(document, dict) else None
    require_one_of(
        [routing_key if isinstance(routing_key, str) else None, presented_secret(request)],
        valid,
        'put the integration key in "routing_key" (or send Authorization: Bearer <token>)',
    )


def generated_dedup_key(event: GenericEvent) -> str:
    """Stable for the same routing key, summary, source and component, so a retried trigger dedupes."""
    payload = event.payload
    parts = [event.routing_key, *((payload.summary, payload.source, payload.component) if payload else ())]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def normalise_generic(event: GenericEvent) -> list[Alert]:
    """One alert; its dedup key is also its group key, because follow-ups carry nothing else to group by."""
    dedup_key = event.dedup_key or generated_dedup_key(event)
    payload = event.payload
    links = {link.text or f"link {index + 1}": link.href for index, link in enumerate(event.links)}
    if event.client_url:
        links.setdefault(event.client or "client", event.client_url)
    labels = (
        {
            name: value
            for name, value in {
                "source": payload.source,
                "component": payload.component,
                "group": payload.group,
                "class": payload.class_,
            }.items()
            if value
        }
        if payload
        else {}
    )
    return [
        Alert(
            source="generic",
            dedup_key=dedup_key,
            group_key=dedup_key,
            status=_STATUS[event.event_action],
            severity=Severity(payload.severity) if payload else Severity.WARNING,
            title=(payload.summary if payload else dedup_key)[:_SUMMARY_LIMIT],
            description=_details(payload.custom_details) if payload else "",
            labels=labels,
            annotations=_annotations(payload.custom_details) if payload else {},
            links=links,
            started_at=_aware(payload.timestamp) if payload else None,
            raw={
                "event_action": event.event_action,
                "severity_word": payload.severity if payload else "",
                "client": event.client,
                "images": [image.model_dump() for image in event.images],
                "dedup_key_generated": event.dedup_key is None,
                **({NOTES: event.dropped} if event.dropped else {}),
            },
        )
    ]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _annotations(details: Any) -> dict[str, str]:
    if isinstance(details, dict):
        return {str(key): _text(value) for key, value in details.items()}
    return {} if details is None else {"details": _text(details)}


def _details(details: Any) -> str:
    return "\n".join(f"{key}: {value}" for key, value in _annotations(details).items())
