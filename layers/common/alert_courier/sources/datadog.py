"""Datadog Webhooks integration: the recommended payload template, the default one, and their normaliser."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from alert_courier.domain.alert import Alert, AlertStatus, Severity
from alert_courier.domain.severity import severity_from_word
from alert_courier.ingress.credentials import presented_secret, require_one_of
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.sources.fields import decoration, drop_malformed, notes_of

TOKEN_HEADER = "x-alert-courier-token"

RECOMMENDED_TEMPLATE = """{
  "alert_id": "$ALERT_ID",
  "aggreg_key": "$AGGREG_KEY",
  "cycle_key": "$ALERT_CYCLE_KEY",
  "transition": "$ALERT_TRANSITION",
  "alert_type": "$ALERT_TYPE",
  "priority": "$ALERT_PRIORITY",
  "title": "$ALERT_TITLE",
  "body": "$EVENT_MSG",
  "scope": "$ALERT_SCOPE",
  "hostname": "$HOSTNAME",
  "tags": "$TAGS",
  "link": "$LINK",
  "date": "$DATE",
  "last_updated": "$LAST_UPDATED",
  "event_id": "$ID",
  "event_type": "$EVENT_TYPE",
  "org": {"id": "$ORG_ID", "name": "$ORG_NAME"}
}"""
"""Paste into the Datadog webhook's Payload field. `transition` is what tells it from the default template."""

# Every repetition that can overlap another is bounded (a transition is a few words, "on" sits between a few
# spaces), so a title matches in time linear in its length: an unbounded lazy `[A-Za-z -]*?` followed by `\s+on`
# took 15 s for "[a" + 100,000 spaces + "x" (quadratic backtracking).
_MAX_TRANSITION_CHARS = 40
_TITLE_PREFIX = re.compile(
    r"\s*(?:\[(?P<priority>P[1-5])\]\s*)?"
    rf"\[(?P<transition>[A-Za-z][A-Za-z -]{{0,{_MAX_TRANSITION_CHARS - 1}}}?)"
    r"(?:\s{1,8}on\s{1,8}\{(?P<scope>[^{}]*)\})?\]\s*"
)
_SCOPE_VALUES_SHOWN = 32
_TRAILING_PRIORITY = re.compile(r"\[(?P<priority>P[1-5])\]\s*")
_EPOCH = re.compile(r"[0-9]{1,16}")
_EPOCH_MILLISECONDS_FROM = 10**11
_MAX_KEY = 255

_TRANSITIONS: dict[str, tuple[AlertStatus, Severity | None]] = {
    "triggered": (AlertStatus.FIRING, None),
    "re-triggered": (AlertStatus.FIRING, None),
    "renotify": (AlertStatus.FIRING, None),
    "warn": (AlertStatus.FIRING, Severity.WARNING),
    "re-warn": (AlertStatus.FIRING, Severity.WARNING),
    "no data": (AlertStatus.FIRING, Severity.WARNING),
    "re-no data": (AlertStatus.FIRING, Severity.WARNING),
    "recovered": (AlertStatus.RESOLVED, None),
}
_NOT_A_TRANSITION = {"", "null"}


class DatadogOrg(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = ""
    name: str = ""


_TEXT = decoration(Annotated[str, Field(coerce_numbers_to_str=True)])
_DECORATIONS = {
    "org": decoration(DatadogOrg),
    "link": _TEXT,
    "hostname": _TEXT,
    "body": _TEXT,
    "event_type": _TEXT,
    "tags": _TEXT,
    "last_updated": _TEXT,
    "event_id": _TEXT,
    "id": _TEXT,
}


class DatadogWebhook(BaseModel):
    """Both templates in one model: `transition` is absent (None) only in Datadog's default template."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    transition: str | None = None
    alert_id: str = ""
    aggreg_key: str = ""
    cycle_key: str = ""
    alert_type: str = ""
    priority: str = ""
    title: str = Field(default="", validate_default=True)
    body: str = ""
    scope: str = ""
    hostname: str = ""
    tags: str = ""
    link: str = ""
    date: str = ""
    last_updated: str = ""
    event_id: str = ""
    id: str = ""
    event_type: str = ""
    org: DatadogOrg = Field(default_factory=DatadogOrg)
    dropped: list[str] = Field(default_factory=list, alias="__dropped__")

    @model_validator(mode="before")
    @classmethod
    def _lenient_about_decorations(cls, data: Any) -> Any:
        """A template can put anything in a field: one that does not decide the action is dropped if it is odd."""
        if isinstance(data, dict) and isinstance(data.get("tags"), list):
            data = {**data, "tags": cls._tags_as_text(data["tags"])}
        return drop_malformed(data, _DECORATIONS)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_as_text(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
            return ",".join(value)
        return value

    @field_validator("date", "last_updated")
    @classmethod
    def _a_time_that_converts(cls, text: str) -> str:
        """A time that reads but has no UTC equivalent is refused; one that does not read is left out."""
        try:
            _moment(text)
        except OverflowError:
            raise PydanticCustomError(
                "datetime_out_of_range", "the time {value} has no UTC equivalent", {"value": text[:40]}
            ) from None
        return text

    @field_validator("title")
    @classmethod
    def _default_template_needs_a_status_prefix(cls, title: str, info: ValidationInfo) -> str:
        if "transition" in info.data and info.data["transition"] is None and parse_title(title) is None:
            raise PydanticCustomError(
                "no_status_prefix",
                "without a `transition` field (Datadog's default template) the status is read from a "
                "[Triggered …]/[Recovered …]/[Warn …]/[No Data …] title prefix, and this title has none; "
                "use the recommended payload template",
            )
        return title


@dataclass(frozen=True)
class TitleParts:
    transition: str
    priority: str
    scope: str
    name: str


def parse_title(title: str) -> TitleParts | None:
    """Split `[P2] [Triggered on {host:web-3}] CPU high` into its parts; None if no known status prefix."""
    match = _TITLE_PREFIX.match(title)
    if match is None or _transition_key(match["transition"]) not in _TRANSITIONS:
        return None
    name = title[match.end() :]
    priority = match["priority"] or ""
    trailing = _TRAILING_PRIORITY.match(name)
    if trailing is not None:
        priority = priority or trailing["priority"]
        name = name[trailing.end() :]
    return TitleParts(match["transition"], priority, _scope(match["scope"] or ""), name.strip())


def authenticate_datadog(request: WebhookRequest, _document: object, valid: Sequence[str], _now: datetime) -> None:
    """Datadog cannot sign: a custom header with the shared secret, or Bearer/Basic auth."""
    custom = request.headers.get(TOKEN_HEADER, "").strip()
    require_one_of(
        [custom, presented_secret(request)],
        valid,
        "add the custom header X-Alert-Courier-Token (or Authorization: Bearer <token>) to the Datadog webhook",
    )


def normalise_datadog(event: DatadogWebhook) -> list[Alert]:
    """One alert per notification; a notification without a transition (a test send) yields none."""
    parts = parse_title(event.title)
    transition = event.transition if event.transition is not None else parts.transition if parts else ""
    key = _transition_key(transition)
    if key in _NOT_A_TRANSITION:
        return []
    status, forced_severity = _TRANSITIONS.get(key, (AlertStatus.FIRING, None))
    priority = event.priority or (parts.priority if parts else "")
    severity = forced_severity or severity_from_word(priority, default=severity_from_word(event.alert_type))
    scope = _scope(event.scope) or (parts.scope if parts else "")
    name = (parts.name if parts else event.title.strip()) or f"Datadog monitor {event.alert_id}".strip()
    dedup_key = _dedup_key(event, scope, name)
    when = _moment(event.date) or _moment(event.last_updated)
    return [
        Alert(
            source="datadog",
            dedup_key=dedup_key,
            group_key=_bounded(event.alert_id or f"{event.org.id}/{name}"),
            status=status,
            severity=severity,
            title=_title(name, scope)[:1024],
            description=_markdown(event.body),
            labels=_labels(event.tags, scope, event.hostname),
            links={"datadog": event.link} if event.link else {},
            started_at=when if status is AlertStatus.FIRING else None,
            ended_at=when if status is AlertStatus.RESOLVED else None,
            raw={
                "template": "default" if event.transition is None else "recommended",
                "transition": transition,
                "priority": priority,
                "alert_type": event.alert_type,
                "severity_word": "" if forced_severity else priority or event.alert_type,
                "alert_id": event.alert_id,
                "aggreg_key": event.aggreg_key,
                "cycle_key": event.cycle_key,
                "event_id": event.event_id or event.id,
                "event_type": event.event_type,
                "org_id": event.org.id,
                "scope": scope,
                **notes_of(event.dropped),
            },
        )
    ]


def _transition_key(text: str) -> str:
    return " ".join(text.lower().split())


def _scope(text: str) -> str:
    return ",".join(sorted({part.strip() for part in text.split(",") if part.strip()}))


def _title(name: str, scope: str) -> str:
    """The monitor name, with its scope unless the name already shows it (`CPU high on {{host.name}}`)."""
    name = name[:1024]  # bounds the `in` checks below: linear in the scope, not its product with the name
    values = [
        tag.partition(":")[2] or tag for tag in scope.split(",", _SCOPE_VALUES_SHOWN)[:_SCOPE_VALUES_SHOWN] if tag
    ]
    shown = len(values) < _SCOPE_VALUES_SHOWN and all(value in name for value in values)
    return f"{name} ({scope[:1024]})" if values and not shown else name


def _dedup_key(event: DatadogWebhook, scope: str, name: str) -> str:
    if event.aggreg_key:
        return _bounded(event.aggreg_key)
    if event.alert_id:
        return _bounded(f"{event.alert_id}:{scope}" if scope else event.alert_id)
    digest = hashlib.sha256("\x1f".join([event.org.id, name, scope]).encode("utf-8", "surrogatepass")).hexdigest()
    return f"title:{digest[:32]}"


def _bounded(key: str) -> str:
    if len(key) <= _MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _labels(tags: str, scope: str, hostname: str) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()  # a set, not a re-split of the joined text: linear in the tag count
    for tag in [*tags.split(","), *scope.split(",")]:
        key, _, value = tag.strip().partition(":")
        key = key.strip()
        if not key:
            continue
        listed = values.setdefault(key, [])
        if value and (key, value) not in seen:
            seen.add((key, value))
            listed.append(value)
    labels = {key: ",".join(listed) for key, listed in values.items()}
    if hostname and not labels.get("host"):
        labels["host"] = hostname
    return labels


def _moment(text: str) -> datetime | None:
    """$DATE / $LAST_UPDATED are epoch milliseconds; seconds and ISO 8601 are accepted too.

    None for text that is not a time; OverflowError for a time that reads but has no UTC equivalent.
    """
    text = text.strip()
    try:
        if _EPOCH.fullmatch(text):
            value = int(text)
            return datetime.fromtimestamp(value / 1000 if value >= _EPOCH_MILLISECONDS_FROM else value, UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _markdown(body: str) -> str:
    """Datadog wraps rich text in `%%%` fences; the text inside is plain markdown."""
    text = body.strip()
    text = text.removeprefix("%%%").removesuffix("%%%")
    return text.strip()
