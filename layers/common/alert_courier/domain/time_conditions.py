"""Time conditions of a rule's `match` (like Alertmanager's `time_intervals`): weekdays and hours of the day in a
time zone, e.g. `time: {weekdays: [mon-fri], hours: "09:00-17:30", timezone: Europe/Berlin}`.

An alert is judged at its own time: when the sender says it started (`started_at`), else when it arrived
(`received_at`). Redeliveries, retries and DLQ replays therefore decide the same way as the first delivery, and an
alert that started at 17:20 is "in hours" even if it reached dispatch at 17:40. Wall-clock times are read in the
given zone through `zoneinfo`, so daylight saving is followed: 09:00 Berlin is 08:00 UTC in winter, 07:00 in
summer; a local time skipped by the spring change never occurs, one repeated in autumn occurs twice.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
_FULL_NAMES = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


def _weekday(text: str) -> int:
    name = text.strip().lower()
    name = _FULL_NAMES.get(name, name)
    if name not in WEEKDAY_NAMES:
        raise ValueError(f"{text!r} is not a weekday: use mon, tue, wed, thu, fri, sat, sun (or full names)")
    return WEEKDAY_NAMES.index(name)


def _minutes(text: str) -> int:
    found = _CLOCK.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a time of day: give HH:MM, 00:00 to 24:00")
    hours, minutes = int(found.group(1)), int(found.group(2))
    if hours == 24 and minutes:
        raise ValueError(f"{text!r} is not a time of day: 24:00 is the latest")
    return hours * 60 + minutes


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class TimeCondition(BaseModel):
    """When a rule applies: on these weekdays, within these hours (start inclusive, end exclusive), local time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekdays: tuple[int, ...] = Field(default=tuple(range(7)), description="0 = Monday (datetime.weekday)")
    hours: tuple[tuple[int, int], ...] = Field(default=((0, 1440),), description="minutes since local midnight")
    timezone: str = "UTC"

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        value = dict(value)
        if "weekdays" in value and not _already_parsed(value["weekdays"], int):
            value["weekdays"] = _weekdays(value["weekdays"])
        if "hours" in value and not _already_parsed(value["hours"], tuple | list):
            value["hours"] = _hour_ranges(value["hours"])
        if not value.get("weekdays", True):
            raise ValueError("weekdays is empty: the rule would never match (leave it out for every day)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}: give an IANA name such as Europe/Berlin or UTC") from None
        return name

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))

    def contains(self, moment: datetime) -> bool:
        local = self.local(moment)
        minute = local.hour * 60 + local.minute
        return local.weekday() in self.weekdays and any(start <= minute < end for start, end in self.hours)

    def explain(self) -> str:
        days = ",".join(WEEKDAY_NAMES[day] for day in self.weekdays) if len(self.weekdays) < 7 else "every day"
        hours = ",".join(f"{_clock_text(start)}-{_clock_text(end)}" for start, end in self.hours)
        return f"{days} {hours} {self.timezone}"


def _already_parsed(value: Any, kind: Any) -> bool:
    """A model dumped and validated again (numbers and pairs, not the file's names and "HH:MM-HH:MM")."""
    return (
        isinstance(value, tuple | list)
        and bool(value)
        and all(isinstance(item, kind) and not isinstance(item, bool | str) for item in value)
    )


def _weekdays(value: Any) -> tuple[int, ...]:
    """`[mon, tue]`, `[mon-fri]` / `[monday:friday]` (Alertmanager's spelling), or one string `mon-fri`."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("weekdays: give a list such as [mon-fri] or [sat, sun]")
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"weekdays: {item!r} is not a weekday name")
        bounds = re.split(r"\s*[-:]\s*", item.strip())
        if len(bounds) > 2:
            raise ValueError(f"weekdays: {item!r}: a range has two ends, e.g. mon-fri")
        first, last = _weekday(bounds[0]), _weekday(bounds[-1])
        if first > last:
            raise ValueError(f"weekdays: {item!r} runs backwards: write it as two ranges (e.g. [fri-sun, mon])")
        days.update(range(first, last + 1))
    return tuple(sorted(days))


def _hour_ranges(value: Any) -> tuple[tuple[int, int], ...]:
    """`"09:00-17:30"` or a list of them; the end is exclusive and must come after the start (24:00 is allowed)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError('hours: give "HH:MM-HH:MM" or a list of them, e.g. "09:00-17:30"')
    ranges = []
    for item in items:
        if not isinstance(item, str) or item.count("-") != 1:
            raise ValueError(f'hours: {item!r} is not a range "HH:MM-HH:MM"')
        start_text, end_text = item.split("-")
        start, end = _minutes(start_text), _minutes(end_text)
        if start >= end:
            raise ValueError(
                f"hours: {item!r} ends before it starts; a range over midnight is two ranges: "
                f'["{start_text.strip()}-24:00", "00:00-{end_text.strip()}"]'
            )
        ranges.append((start, end))
    return tuple(sorted(ranges))


def time_of(alert_started_at: datetime | None, received_at: datetime) -> datetime:
    """The time an alert is judged at (module docstring): the sender's start time, else its arrival."""
    return alert_started_at or received_at
