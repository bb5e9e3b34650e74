"""Maintenance windows (silences): while a window covers an alert, dispatch records it and does not act on it;
when the window ends, what it held is acted on once (`on_end: reevaluate`) or forgotten (`on_end: drop`).

Pure decisions over plain data; the API (`ingress.maintenance_api`), the store (`aws.maintenance_store`) and the
use case (`use_cases.maintenance`) are around them. Exact behaviour (README "Maintenance windows"):
- a window covers an alert while it is open at the time dispatch handles the alert (`starts_at <= now <
  ends_at`) and its `match` (the rules' matcher syntax) matches the alert;
- firings it covers are held: recorded in the history, kept with the window, not part of their group (no incident
  opens, none is updated, nobody is paged);
- resolves: `resolves: close` (default) lets every resolve through, so incidents opened before the window still
  close when their alerts recover; `resolves: hold` holds covered resolves as well (the incident stays open);
  acknowledgements always go through (they are people, not monitoring);
- at the end, per held alert, only its latest transition (by sender time) counts: `reevaluate` hands it to the
  normal decision path once (a firing still firing opens or joins its group's incident; one that resolved in the
  meantime does nothing); `drop` forgets held firings and still applies each alert's latest held resolve, even
  one a later held firing follows (a resolve can only close what was open before the window).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus
from alert_courier.domain.rules import Duration, Match, RuleSet

WINDOW_ID_PATTERN = r"^mw-[0-9a-f]{16}$"
MAX_WINDOW_LENGTH = timedelta(days=30)
MAX_START_AHEAD = timedelta(days=90)
MAX_WINDOWS = 200  # open or scheduled at once; more is a leak in someone's deploy tooling, refused with a reason
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class WindowTimesInvalid(ValueError):
    """Times that make no window; `field` names the one to fix."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2026-12-02T10:00:00Z")
    return moment.astimezone(UTC)


class WindowRequest(_Strict):
    """The body of `POST /maintenance` (and of `alert-courier silence add`)."""

    match: Match
    starts_at: datetime | None = Field(default=None, description="default: now")
    ends_at: datetime | None = None
    duration: Duration | None = Field(default=None, description="instead of ends_at: 30m, 2h, 1h30m")
    reason: Text
    created_by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    on_end: Literal["reevaluate", "drop"] = "reevaluate"
    resolves: Literal["close", "hold"] = "close"

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _zoned(cls, moment: datetime | None) -> datetime | None:
        return None if moment is None else _utc(moment)

    @model_validator(mode="after")
    def _one_end(self) -> WindowRequest:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give exactly one of ends_at or duration")
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValueError("duration must be positive")
        return self

    def window(self, window_id: str, now: datetime) -> MaintenanceWindow:
        """The window this request opens; `WindowTimesInvalid` for times that make no window."""
        starts = self.starts_at or now
        ends = self.ends_at if self.ends_at is not None else starts + (self.duration or timedelta(0))
        end_field = "ends_at" if self.ends_at is not None else "duration"
        if ends <= now:
            raise WindowTimesInvalid(end_field, f"the window would already be over: it ends at {ends.isoformat()}")
        if ends <= starts:
            raise WindowTimesInvalid(end_field, "ends_at must be after starts_at")
        if ends - starts > MAX_WINDOW_LENGTH:
            raise WindowTimesInvalid(
                end_field, f"a window lasts at most {MAX_WINDOW_LENGTH.days} days; open another one after it"
            )
        if starts - now > MAX_START_AHEAD:
            raise WindowTimesInvalid("starts_at", f"a window starts at most {MAX_START_AHEAD.days} days ahead")
        return MaintenanceWindow(
            id=window_id,
            match=self.match,
            starts_at=starts,
            ends_at=ends,
            reason=self.reason,
            created_by=self.created_by,
            on_end=self.on_end,
            resolves=self.resolves,
            created_at=now,
        )


class MaintenanceWindow(_Strict):
    """A stored window. `expired_at`/`expired_by`: ended early (DELETE, `silence expire`); `ends_at` is then that
    time. `settled_at`: the scheduler has done everything its end requires."""

    id: str = Field(pattern=WINDOW_ID_PATTERN)
    match: Match
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    on_end: Literal["reevaluate", "drop"] = "reevaluate"
    resolves: Literal["close", "hold"] = "close"
    created_at: datetime
    expired_at: datetime | None = None
    expired_by: str | None = None
    settled_at: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def status(self, now: datetime) -> Literal["scheduled", "open", "ended"]:
        if now < self.starts_at:
            return "scheduled"
        return "open" if now < self.ends_at else "ended"

    def expired(self, now: datetime, by: str) -> MaintenanceWindow:
        """Ended now (if still open or scheduled); an ended window stays as it is."""
        if self.ends_at <= now:
            return self
        return self.model_copy(update={"ends_at": max(now, self.starts_at), "expired_at": now, "expired_by": by})

    def describe(self) -> str:
        return f"maintenance window {self.id} ({self.reason!r}, by {self.created_by}) until {self.ends_at.isoformat()}"

    def public(self, now: datetime) -> dict[str, Any]:
        """What the API and the CLI show."""
        shown = self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=False)
        shown["match"] = self.match.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        shown["status"] = self.status(now)
        return shown


def new_window_id(random_hex: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{16}", random_hex):
        raise ValueError("a window id is 16 hex digits")
    return f"mw-{random_hex}"


def _as_rules_see_it(alert: Alert, rules: RuleSet | None) -> Alert:
    """With the rules' severity words applied, so `severity: critical` means in a window what it means in a rule."""
    word = str(alert.raw.get("severity_word") or "").strip().lower()
    if rules is not None and word and word in rules.severity.words:
        return alert.model_copy(update={"severity": rules.severity.words[word]})
    return alert


def window_holding(
    alert: Alert, windows: list[MaintenanceWindow], now: datetime, rules: RuleSet | None = None
) -> MaintenanceWindow | None:
    """The open window that holds this alert (the earliest-ending of several), or None: act on it now."""
    if alert.status is AlertStatus.ACKNOWLEDGED:
        return None
    seen = _as_rules_see_it(alert, rules)
    holding = [
        window
        for window in windows
        if window.is_open(now)
        and (alert.status is AlertStatus.FIRING or window.resolves == "hold")
        and window.match.check(seen)[0]
    ]
    return min(holding, key=lambda window: (window.ends_at, window.id), default=None)


def holding_reasons(window: MaintenanceWindow, alert: Alert) -> list[str]:
    why = "; ".join(window.match.check(alert)[1])
    after = "acted on once when it ends" if window.on_end == "reevaluate" else "forgotten when it ends (on_end: drop)"
    return [f"held by {window.describe()}: {why}", f"recorded, nothing called; {after}"]


def _sender_order(envelope: AlertEnvelope) -> tuple[str, int, str]:
    alert = envelope.alert
    moment = alert.started_at or alert.ended_at or alert.received_at
    return (moment.isoformat(), 1 if alert.status is AlertStatus.RESOLVED else 0, alert.received_at.isoformat())


def latest_per_alert(held: list[AlertEnvelope]) -> list[AlertEnvelope]:
    """Each held alert's latest transition by sender time (a resolve after the firing it ends)."""
    latest: dict[tuple[str, str], AlertEnvelope] = {}
    for envelope in held:
        key = (envelope.alert.source, envelope.alert.dedup_key)
        if key not in latest or _sender_order(envelope) > _sender_order(latest[key]):
            latest[key] = envelope
    return sorted(latest.values(), key=_sender_order)


def at_end(window: MaintenanceWindow, held: list[AlertEnvelope]) -> list[AlertEnvelope]:
    """What the end of the window hands to the normal decision path (module docstring); the rest is forgotten."""
    if window.on_end == "reevaluate":
        return latest_per_alert(held)
    # drop: each alert's latest held resolve, even if a firing held after it is forgotten. That resolve may be the
    # redelivery of one whose incident.io call failed (its group's state already says so and waits for it to
    # finish): forgetting it with the firing would leave the incident open with nothing left to close it.
    return latest_per_alert([envelope for envelope in held if envelope.alert.status is AlertStatus.RESOLVED])
