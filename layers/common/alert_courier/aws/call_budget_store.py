"""The shared call budget in the state table: one item per bucket, `budget#<name>` / `bucket`, holding the
bucket's theoretical arrival time (`tat`, epoch milliseconds; see `domain.call_budget`).

Taking a request is one conditional UpdateItem (`tat = tat + interval` while the bucket has room for this
priority) — atomic, so any number of containers share the bucket without a lock or a read. When the bucket is
full (its TAT has fallen behind now) the TAT restarts from now: a second conditional write the first time after a
quiet spell, then one a request again. A refused take returns the bucket as it was (ReturnValuesOnConditionCheck
Failure), which says how long to wait. Containers' clocks are NTP-synchronised to milliseconds on Lambda; a skew
of some milliseconds shifts the bucket by that much, not its rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from alert_courier.domain.call_budget import BucketLimit, Priority

BUCKET_SK = "bucket"
_ATTEMPTS = 4  # each lost race means another container was admitted: look again


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


def _refused(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _stored_tat(error: ClientError) -> int | None:
    item = error.response.get("Item") or {}
    value = item.get("tat")
    if isinstance(value, dict):  # the error carries the item in DynamoDB's own notation
        value = value.get("N")
    return int(value) if value is not None else None


class DynamoDbCallBudget:
    def __init__(self, table: Any, clock_ms: Callable[[], int] = _wall_clock_ms) -> None:
        self._table = table
        self._clock_ms = clock_ms
        self._last_tat: dict[str, int] = {}

    def take(self, bucket: BucketLimit, priority: Priority) -> int:
        now = self._clock_ms()
        latest = bucket.latest_admitted_tat(now, priority)
        for _ in range(_ATTEMPTS):
            if self._last_tat.get(bucket.name, 0) >= now:
                tat = self._advance(bucket, now, latest)
                if tat is None:
                    return 0
                if tat > latest:
                    return bucket.wait_ms(tat, now, priority)
            if self._restart(bucket, now):
                return 0
        return bucket.interval_ms  # a crowd took every place we found: try again a moment later

    def pause(self, bucket: BucketLimit, retry_after_ms: int) -> None:
        until = bucket.emptied_until(self._clock_ms(), retry_after_ms)
        try:
            self._table.update_item(
                Key=self._key(bucket),
                UpdateExpression="SET tat = :until, expiration = :expiration",
                ConditionExpression="attribute_not_exists(tat) OR tat < :until",
                ExpressionAttributeValues={":until": until, ":expiration": self._expiration(until)},
            )
        except ClientError as error:
            if not _refused(error):
                raise
        self._last_tat[bucket.name] = until

    def _advance(self, bucket: BucketLimit, now: int, latest: int) -> int | None:
        """Admitted: None. Refused: the TAT found (behind now means the bucket is full and must restart)."""
        try:
            answer = self._table.update_item(
                Key=self._key(bucket),
                UpdateExpression="SET tat = tat + :interval, expiration = :expiration",
                ConditionExpression="tat BETWEEN :now AND :latest",
                ExpressionAttributeValues={
                    ":interval": bucket.interval_ms,
                    ":now": now,
                    ":latest": latest,
                    ":expiration": self._expiration(latest),
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _refused(error):
                raise
            found = _stored_tat(error)
            self._last_tat[bucket.name] = found if found is not None else 0
            return found if found is not None else now - 1
        self._last_tat[bucket.name] = int(answer["Attributes"]["tat"])
        return None

    def _restart(self, bucket: BucketLimit, now: int) -> bool:
        """A full (or new) bucket: this request's TAT starts from now."""
        tat = now + bucket.interval_ms
        try:
            self._table.update_item(
                Key=self._key(bucket),
                UpdateExpression="SET tat = :tat, expiration = :expiration",
                ConditionExpression="attribute_not_exists(tat) OR tat < :now",
                ExpressionAttributeValues={":tat": tat, ":now": now, ":expiration": self._expiration(tat)},
            )
        except ClientError as error:
            if not _refused(error):
                raise
            self._last_tat[bucket.name] = now  # someone else restarted it: advance it next
            return False
        self._last_tat[bucket.name] = tat
        return True

    @staticmethod
    def _key(bucket: BucketLimit) -> dict[str, str]:
        return {"pk": f"budget#{bucket.name}", "sk": BUCKET_SK}

    @staticmethod
    def _expiration(tat_ms: int) -> int:
        return tat_ms // 1000 + 3600  # a bucket nobody used for an hour is full again: TTL may drop it
