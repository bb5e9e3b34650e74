"""`alert-courier tail`: decisions as they are recorded, one line each — when, source, group, what was decided
(opened, joined, suppressed, resolved, a repeat …), the actions and the incident — following new ones.

It polls the history's hourly feed (`aws.history_index`). Records are written with their writers' clocks (many
containers), so one may land a little behind another: each poll looks back `OVERLAP` and skips what it has
already printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.aws.history_index import HistoryLookups

OVERLAP = timedelta(seconds=30)

# What a decision with no action was, from the reasons the domain's decisions give (tests/unit/test_tail.py runs
# the real decisions, so a reworded reason fails there rather than silently printing "recorded").
_QUIET_OUTCOMES = (
    ("suppressed:", "suppressed"),
    ("transient: resolved within the hold", "resolved (transient)"),
    ("and happen only if the group is still firing then", "held (hold)"),
    ("the incident is held open and resolves at", "resolved (flapping: held open)"),
    ("alert joins it", "joined"),
    ("being opened by an earlier alert", "joined"),
    ("already firing", "repeat"),
    ("stale ", "stale"),
    ("not firing here", "resolved (not firing)"),
    ("still firing", "resolved (group still firing)"),
    ("no open incident to resolve", "resolved (no incident)"),
    ("leaves the incident to people", "resolved (left open)"),
    ("acknowledgement recorded", "acknowledged"),
)
_ACTION_OUTCOMES = {
    "open_incident": "opened",
    "resolve_incident": "resolved",
    "update_incident": "raised",
    "reopen_incident": "reopened",
    "flapping_update": "flapping",
    "storm_update": "storm members listed",
    "escalate": "paged",
    "acknowledge_escalation": "acknowledged",
    "alert_event": "alert event",
}


def outcome(entry: dict[str, Any]) -> str:
    """One word or two for what the decision did."""
    if entry.get("manual"):
        return f"manual {entry['manual'].get('operation')}"
    kinds = [str(action.get("kind")) for action in entry.get("actions", [])]
    if entry.get("error"):
        return "failed"
    for kind in (
        "open_incident",
        "reopen_incident",
        "resolve_incident",
        "flapping_update",
        "update_incident",
        "escalate",
        "acknowledge_escalation",
    ):
        if kind in kinds:
            return _ACTION_OUTCOMES[kind]
    if kinds:
        return _ACTION_OUTCOMES.get(kinds[0], kinds[0])
    reasons = " ".join(entry.get("reasons", []))
    return next((word for marker, word in _QUIET_OUTCOMES if marker in reasons), "recorded")


def summary(entry: dict[str, Any]) -> dict[str, Any]:
    """What `tail --json` prints for one decision (one JSON object a line)."""
    return {
        "recorded_at": entry.get("recorded_at"),
        "source": entry.get("source"),
        "group_key": entry.get("group_key") or entry.get("heartbeat") or entry.get("dedup_key"),
        "dedup_key": entry.get("dedup_key"),
        "status": entry.get("status"),
        "decision": outcome(entry),
        "actions": [action.get("kind") for action in entry.get("actions", [])],
        "incident": entry.get("incident_reference"),
        "error": entry.get("error"),
    }


def format_line(entry: dict[str, Any]) -> str:
    line = summary(entry)
    group = str(line["group_key"])
    if line["dedup_key"] and line["dedup_key"] != group:
        group += f" ({line['dedup_key']})"
    actions = ",".join(line["actions"]) or "-"
    incident = line["incident"] or "-"
    text = f"{line['recorded_at']} {line['source']} {group} {line['status']} {line['decision']} {actions} {incident}"
    return text + (f" error: {line['error']}" if line["error"] else "")


@dataclass
class Follower:
    """Yields each decision once, oldest first, from `since` on; `poll` returns the ones new since the last poll."""

    lookups: HistoryLookups
    since: datetime
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _seen: dict[tuple[str, str], str] = field(default_factory=dict)  # (pk, sk) → sk, to forget old ones

    def poll(self) -> list[dict[str, Any]]:
        now = self.clock()
        fresh = [
            entry
            for entry in self.lookups.recorded_since(self.since, until=now)
            if (entry["_pk"], entry["_sk"]) not in self._seen
        ]
        for entry in fresh:
            self._seen[(entry["_pk"], entry["_sk"])] = entry["_sk"]
        horizon = max(self.since, now - OVERLAP)
        self._seen = {key: sk for key, sk in self._seen.items() if sk >= horizon.isoformat()}
        self.since = horizon
        return fresh


def follow(
    follower: Follower,
    *,
    once: bool,
    count: int | None,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Decisions as they come: what is recorded already, then every `interval` seconds what is new; stops after
    the first read (`once`) or `count` decisions."""
    shown = 0
    while True:
        for entry in follower.poll():
            yield entry
            shown += 1
            if count is not None and shown >= count:
                return
        if once:
            return
        sleep(interval)


def print_followed(entries: Iterator[dict[str, Any]], *, as_json: bool, write: Callable[[str], None]) -> int:
    for entry in entries:
        write(json.dumps(summary(entry), default=str) if as_json else format_line(entry))
    return 0
