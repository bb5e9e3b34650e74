"""How decision records are found by something other than their dedup key: the attributes and items
`DecisionHistory.record` writes besides the record itself, and the reads `alert-courier history` and `tail` make.

One global secondary index of the state table (template.yaml `StateTable`), sparse (only history items carry its
key) and projecting every attribute:
  history-by-group `history_group` (the group's state id; `heartbeat#<name>` for every instance of a heartbeat)
                   / `sk`: every decision of one group or heartbeat, for lookups by group key, incident and
                   heartbeat name. `history_episode` (`<state id>#<generation>`) narrows it to one incident's.
(Only one: CloudFormation cannot add two indexes to an existing table in one update.)

A copy of each decision in the hour's feed, for `tail` (kept `FEED_DAYS`):
  feed#<UTC hour, 2026-12-02T07> / <the record's sk>   with `history_pk`, the record's own pk
One partition takes every decision of that hour: DynamoDB's 1,000 writes/s per partition is several times what
dispatch's concurrency (5) can record, and adaptive capacity splits a hot one by sort key.

And one pointer item per way an incident is named, written when a decision opens it:
  incident#<reference> / incident       (`INC-12`)
  incident#<incident id> / incident     (incident.io's id)
  incident#<alert-courier key> / incident (the `alert-courier key: …` line in the incident's summary)
each holding the group and episode (`points_to_group`, `points_to_episode`) of the episode that opened it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.domain.actions import incident_key

FEED_DAYS = 2
BY_GROUP_INDEX = "history-by-group"
POINTER_SK = "incident"
HEARTBEAT_GROUP_PREFIX = "heartbeat#"


def hour_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def index_attributes(entry: dict[str, Any]) -> dict[str, Any]:
    """The attributes a history item carries for the index (none for what an entry does not say)."""
    attributes: dict[str, Any] = {}
    group = history_group_of(entry)
    if group:
        attributes["history_group"] = group
    if entry.get("group_id") and entry.get("generation") is not None:
        attributes["history_episode"] = f"{entry['group_id']}#{entry['generation']}"
    return attributes


def feed_item(record: dict[str, Any], recorded: datetime) -> dict[str, Any]:
    """The copy of a history item in its hour's feed (what `tail` reads)."""
    return {
        "pk": f"feed#{hour_of(recorded)}",
        "sk": record["sk"],
        "history_pk": record["pk"],
        "entry": record["entry"],
        "expiration": int(recorded.timestamp()) + FEED_DAYS * 86400,
    }


def history_group_of(entry: dict[str, Any]) -> str | None:
    if entry.get("heartbeat"):
        return HEARTBEAT_GROUP_PREFIX + str(entry["heartbeat"])
    return str(entry["group_id"]) if entry.get("group_id") else None


def incident_pointers(entry: dict[str, Any], source: str, dedup_key: str, expiration: int) -> list[dict[str, Any]]:
    """The pointer items for every incident this entry's actions opened (their results name it)."""
    group = history_group_of(entry)
    pointers: list[dict[str, Any]] = []
    for action, result in zip(entry.get("actions", []), entry.get("results", []), strict=False):
        if action.get("kind") != "open_incident" or not isinstance(result, dict) or not result.get("incident_id"):
            continue
        key = incident_key(str(action["group_id"]), int(action["generation"]))
        pointed = {
            # not `history_group`/`history_episode`: a pointer is not a decision and must stay out of the index
            "points_to_group": group or str(action["group_id"]),
            "points_to_episode": f"{action['group_id']}#{action['generation']}",
            "incident_id": str(result["incident_id"]),
            "incident_reference": str(result.get("incident_reference") or ""),
            "incident_key": key,
            "source": source,
            "group_key": str(entry.get("group_key") or dedup_key),
            "expiration": expiration,
        }
        for name in {pointed["incident_reference"], pointed["incident_id"], key} - {""}:
            pointers.append({"pk": f"incident#{name}", "sk": POINTER_SK, **pointed})
    return pointers


def _entry_of(item: dict[str, Any]) -> dict[str, Any]:
    pk = str(item.get("history_pk") or item["pk"])  # a feed copy names its record's
    source, _, dedup_key = pk.removeprefix("history#").partition("#")
    return {
        **json.loads(item["entry"]),
        "recorded_at": str(item["sk"]).split("#", 1)[0],
        "source": source,
        "dedup_key": dedup_key,
        "_sk": str(item["sk"]),
        "_pk": pk,
    }


def _query(table: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        page = table.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class HistoryLookups:
    """The reads of the history by group, incident and time (the operator's commands; dispatch never reads these).

    Every entry returned carries `source`, `dedup_key` and `recorded_at`, and `_pk`/`_sk` (its item's keys, unique).
    """

    def __init__(self, table: Any) -> None:
        self._table = table

    def incident(self, name: str) -> dict[str, Any] | None:
        """The pointer of an incident named by its reference, its id or the alert-courier key it prints."""
        item = self._table.get_item(Key={"pk": f"incident#{name}", "sk": POINTER_SK}).get("Item")
        return dict(item) if item else None

    def by_dedup_key(self, source: str, dedup_key: str) -> list[dict[str, Any]]:
        """What `DecisionHistory.read` returns, with the item keys."""
        query = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"history#{source}#{dedup_key}"},
        }
        return [_entry_of(item) for item in _query(self._table, **query)]

    def by_group(self, group: str, *, episode: str | None = None) -> list[dict[str, Any]]:
        """Every decision of one group (its state id) or heartbeat (`heartbeat#<name>`), oldest first."""
        kwargs: dict[str, Any] = {
            "IndexName": BY_GROUP_INDEX,
            "KeyConditionExpression": "history_group = :group",
            "ExpressionAttributeValues": {":group": group},
        }
        if episode is not None:
            kwargs["FilterExpression"] = "history_episode = :episode"
            kwargs["ExpressionAttributeValues"][":episode"] = episode
        return [_entry_of(item) for item in _query(self._table, **kwargs)]

    def recorded_since(self, since: datetime, *, until: datetime | None = None) -> list[dict[str, Any]]:
        """Every decision recorded at or after `since` (up to `until`, default now; the feed keeps `FEED_DAYS`),
        oldest first."""
        end = until or datetime.now(UTC)
        entries: list[dict[str, Any]] = []
        hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while hour <= end:
            entries += [
                _entry_of(item)
                for item in _query(
                    self._table,
                    KeyConditionExpression="pk = :feed AND sk >= :since",
                    ExpressionAttributeValues={
                        ":feed": f"feed#{hour_of(hour)}",
                        ":since": since.astimezone(UTC).isoformat(),
                    },
                    ConsistentRead=True,
                )
            ]
            hour += timedelta(hours=1)
        return sorted(entries, key=lambda entry: entry["_sk"])
