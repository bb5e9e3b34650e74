"""`alert-courier history KEY`: one argument, looked up every way an operator may hold it — a dedup key, a group
key, a heartbeat's name (every instance), an incident's reference (`INC-12`), id, or the key its summary prints
(`alert-courier key: alert-courier-…`) — and the decisions found, oldest first, each once."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alert_courier.aws.history_index import HEARTBEAT_GROUP_PREFIX, HistoryLookups
from alert_courier.domain.group_state import state_id_for
from alert_courier.domain.heartbeat_decisions import HEARTBEAT_SOURCE


@dataclass
class Found:
    """The decisions found for one argument and how (`matched`: e.g. `incident INC-3`, `group key (alertmanager)`)."""

    key: str
    matched: list[str] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(self, how: str, entries: Iterable[dict[str, Any]]) -> None:
        listed = list(entries)
        if listed:
            self.matched.append(how)
        known = {(entry["_pk"], entry["_sk"]) for entry in self.entries}
        fresh = [entry for entry in listed if (entry["_pk"], entry["_sk"]) not in known]
        self.entries = sorted([*self.entries, *fresh], key=lambda entry: entry["_sk"])

    def since(self, moment: str) -> Found:
        kept = [entry for entry in self.entries if str(entry.get("recorded_at", "")) >= moment]
        return Found(self.key, self.matched, kept)


def find_decisions(lookups: HistoryLookups, key: str, sources: Sequence[str]) -> Found:
    """`sources`: where a dedup or group key may come from (every source, or the one `--source` names)."""
    found = Found(key)
    pointer = lookups.incident(key) or (lookups.incident(key.upper()) if key.upper() != key else None)  # inc-3
    if pointer is not None:
        reference = pointer.get("incident_reference") or pointer.get("incident_id")
        found.add(
            f"incident {reference} (group {pointer.get('group_key')!r})",
            lookups.by_group(str(pointer["points_to_group"]), episode=str(pointer["points_to_episode"])),
        )
    for source in sources:
        found.add(f"dedup key ({source})", lookups.by_dedup_key(source, key))
        found.add(f"group key ({source})", lookups.by_group(state_id_for(source, key)))
    if "/" not in key and HEARTBEAT_SOURCE in sources:
        found.add("heartbeat (every instance)", lookups.by_group(HEARTBEAT_GROUP_PREFIX + key))
    return found


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as `--json` prints it (without the item keys used to tell entries apart)."""
    return {name: value for name, value in entry.items() if not name.startswith("_")}


def format_found(found: Found) -> list[str]:
    lines = [f"{found.key}: {', '.join(found.matched)}"] if found.matched else []
    for entry in found.entries:
        actions = ", ".join(action["kind"] for action in entry.get("actions", [])) or "no action"
        manual = entry.get("manual") or {}
        who = f" [manual {manual.get('operation')} by {manual.get('by')}]" if manual else ""
        lines.append(
            f"{entry.get('recorded_at', '')} {entry['source']}/{entry['dedup_key']} {entry.get('status')}{who}: "
            + "; ".join(entry.get("reasons", []))
        )
        lines.append(
            f"    actions: {actions}; results: {json.dumps(entry.get('results'), default=str)}"
            + (f"; error: {entry['error']}" if entry.get("error") else "")
        )
    return lines
