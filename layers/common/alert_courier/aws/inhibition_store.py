"""The inhibition index, in the state table (keys `pk`/`sk`, TTL attribute `expiration`):

  inhibit#<entry> / source#<source:dedup_key>           one source alert of an entry (rule + equal values): the
                                                        live firing's start (absent once resolved) and how far
                                                        its resolves went (a late firing copy stays stale)
  inhibition     / held#<entry>#<source:dedup_key>      a target held while its entry's source fired (its latest
                                                        transition, as an envelope)
  inhibit-by#<source:dedup_key> / <entry>               an entry the source alert fired in (rule, equal values),
                                                        for a resolve that carries none of its labels (the
                                                        reconcile pass's)

Each source alert is an item of its own, written by the dispatch of its own FIFO message group (one update per
transition, conditional on the sender's times as `apply_source_change` decides: a stale one changes nothing), so
concurrent containers never read-modify-write the same item. A target's check is one consistent Query of its entry.
The scheduler lists every held target with one Query of `inhibition`.

Sources and held targets expire `SOURCE_MEMORY` after their last write: a source whose resolve never came does
not inhibit for ever (senders re-send firing alerts well within it: Alertmanager every `repeat_interval`).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from alert_courier.domain.alert import AlertEnvelope
from alert_courier.domain.inhibition import InhibitEntry, SourceChange, alert_key
from alert_courier.use_cases.inhibition import HeldTarget

HELD_PK = "inhibition"
SOURCE_ENTRIES_PK = "inhibit-by#"
SOURCE_MEMORY = timedelta(days=7)


def _expiry() -> int:
    return int(time.time() + SOURCE_MEMORY.total_seconds())


class InhibitionStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def firing_sources(self, entry_key: str) -> set[str]:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :source)",
            "ExpressionAttributeValues": {
                ":pk": f"inhibit#{entry_key}",
                ":source": "source#",
                ":now": int(time.time()),
            },
            # Resolved sources stay as tombstones (how far they resolved); DynamoDB deletes expired items late.
            "FilterExpression": "attribute_exists(firing_started) AND #expiration > :now",
            "ExpressionAttributeNames": {"#expiration": "expiration", "#sk": "sk"},
            "ProjectionExpression": "#sk",
            "ConsistentRead": True,
        }
        found: set[str] = set()
        while True:
            page = self._table.query(**query)
            found |= {str(item["sk"]).removeprefix("source#") for item in page.get("Items", [])}
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def record_source(self, change: SourceChange) -> None:
        """`apply_source_change` as conditional writes: a stale transition fails its condition and changes nothing."""
        key = {"pk": f"inhibit#{change.entry.key}", "sk": f"source#{change.alert_key}"}
        names = {"#f": "firing_started", "#r": "resolved_through", "#x": "expiration"}
        try:
            if change.firing:
                self._remember_entry(change)
                self._table.update_item(
                    Key=key,
                    UpdateExpression="SET #f = :s, #x = :x",
                    ConditionExpression=(
                        "(attribute_not_exists(#r) OR #r < :s) AND (attribute_not_exists(#f) OR #f <= :s)"
                    ),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":s": change.started, ":x": _expiry()},
                )
            else:
                self._table.update_item(
                    Key=key,
                    UpdateExpression="SET #r = :t, #x = :x REMOVE #f",
                    ConditionExpression=(
                        "(attribute_not_exists(#f) OR #f <= :e) AND (attribute_not_exists(#r) OR #r <= :t)"
                    ),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":t": change.through, ":e": change.ends, ":x": _expiry()},
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # stale (`apply_source_change` leaves the record as it is): nothing to write

    def _remember_entry(self, change: SourceChange) -> None:
        """Which entries a source alert fires in, under its own key: a resolve without its labels finds them."""
        self._table.put_item(
            Item={
                "pk": f"{SOURCE_ENTRIES_PK}{change.alert_key}",
                "sk": change.entry.key,
                "rule": change.entry.rule,
                "values": json.dumps(change.entry.values),
                "expiration": _expiry(),
            }
        )

    def entries_of(self, alert_key: str) -> list[InhibitEntry]:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"{SOURCE_ENTRIES_PK}{alert_key}"},
            "ConsistentRead": True,
        }
        found: list[InhibitEntry] = []
        while True:
            page = self._table.query(**query)
            for item in page.get("Items", []):
                values = tuple((str(label), str(value)) for label, value in json.loads(str(item["values"])))
                found.append(InhibitEntry(str(item["rule"]), values))
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def hold(self, entry_key: str, envelope: AlertEnvelope) -> None:
        self._table.put_item(
            Item={
                "pk": HELD_PK,
                "sk": f"held#{entry_key}#{alert_key(envelope.alert)}",
                "entry": entry_key,
                "alert": alert_key(envelope.alert),
                "envelope": envelope.model_dump_json(),
                "expiration": _expiry(),
            }
        )

    def held(self) -> list[HeldTarget]:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :held)",
            "ExpressionAttributeValues": {":pk": HELD_PK, ":held": "held#"},
            "ConsistentRead": True,
        }
        found: list[HeldTarget] = []
        while True:
            page = self._table.query(**query)
            found += [
                HeldTarget(
                    str(item["entry"]), str(item["alert"]), AlertEnvelope.model_validate_json(str(item["envelope"]))
                )
                for item in page.get("Items", [])
            ]
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def release(self, held: HeldTarget) -> bool:
        try:
            self._table.delete_item(
                Key={"pk": HELD_PK, "sk": f"held#{held.entry_key}#{held.alert_key}"},
                ConditionExpression="#envelope = :handed",
                ExpressionAttributeNames={"#envelope": "envelope"},
                ExpressionAttributeValues={":handed": held.envelope.model_dump_json()},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def drop(self, entry_key: str, alert_key: str) -> None:
        self._table.delete_item(Key={"pk": HELD_PK, "sk": f"held#{entry_key}#{alert_key}"})
