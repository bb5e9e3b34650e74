"""The shared call budget in the state table: one item per bucket, `budget#<name>` / `bucket`, holding the
bucket's theoretical arrival time (`tat`, epoch milliseconds; see `domain.call_budget`) and, after a 429, the time
until which nobody may send (`paused_until`).

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


def _stored(error: ClientError, attribute: str) -> int | None:
    item = error.response.get("Item") or {}
    value = item.get(attribute)
    if isinstance(value, dict):  # the error carries the item in DynamoDB's own notation
        value = value.get("N")
    return int(value) if value is not None else None


_NOT_PAUSED = "(attribute_not_exists(paused_until) OR paused_until <= :now)"


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
                refused = self._advance(bucket, now, latest)
                if refused is None:
                    return 0
                tat, paused_until = refused
                if paused_until > now:
                    return paused_until - now
                if tat > latest:
                    return bucket.wait_ms(tat, now, priority)
            pause_found = self._restart(bucket, now)
            if pause_found is None:
                return 0
            if pause_found > now:
                return pause_found - now
        return bucket.interval_ms  # a crowd took every place we found: try again a moment later

    def pause(self, bucket: BucketLimit, retry_after_ms: int) -> None:
        """Nobody sends on this bucket until `retry_after_ms` from now (a longer pause already set stays)."""
        until = self._clock_ms() + retry_after_ms
        try:
            self._table.update_item(
                Key=self._key(bucket),
                UpdateExpression="SET paused_until = :until, expiration = :expiration",
                ConditionExpression="attribute_not_exists(paused_until) OR paused_until < :until",
                ExpressionAttributeValues={":until": until, ":expiration": self._expiration(until)},
            )
        except ClientError as error:
            if not _refused(error):
                raise

    def _advance(self, bucket: BucketLimit, now: int, latest: int) -> tuple[int, int] | None:
        """Admitted: None. Refused: the TAT and pause found (a TAT behind now: the bucket is full, restart it)."""
        try:
            answer = self._table.update_item(
                Key=self._key(bucket),
                UpdateExpression="SET tat = tat + :interval, expiration = :expiration",
                ConditionExpression=f"tat BETWEEN :now AND :latest AND {_NOT_PAUSED}",
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
            found = _stored(error, "tat")
            self._last_tat[bucket.name] = found if found is not None else 0
            return (found if found is not None else now - 1), _stored(error, "paused_until") or 0
        self._last_tat[bucket.name] = int(answer["Attributes"]["tat"])
        return None

    def _restart(self, bucket: BucketLimit, now: int) -> int | None:
        """A full (or new) bucket: this request's TAT starts from now. Admitted: None; refused: the pause found
        (0 when someone else restarted it first: advance it next)."""
        tat = now + bucket.interval_ms
        try:
            self._table.update_item(
                Key=self._key(bucket),
                UpdateExpression="SET tat = :tat, expiration = :expiration",
                ConditionExpression=f"(attribute_not_exists(tat) OR tat < :now) AND {_NOT_PAUSED}",
                ExpressionAttributeValues={":tat": tat, ":now": now, ":expiration": self._expiration(tat)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _refused(error):
                raise
            self._last_tat[bucket.name] = now
            return _stored(error, "paused_until") or 0
        self._last_tat[bucket.name] = tat
        return None

    @staticmethod
    def _key(bucket: BucketLimit) -> dict[str, str]:
        return {"pk": f"budget#{bucket.name}", "sk": BUCKET_SK}

    @staticmethod
    def _expiration(tat_ms: int) -> int:
        return tat_ms // 1000 + 3600  # a bucket nobody used for an hour is full again: TTL may drop it
