"""Storm counters and memberships, in the state table (keys `pk`/`sk`, TTL attribute `expiration`):

  storm#<rule> / window#<window start>   the distinct new group keys counted in one window (a string set)
  storm#<rule> / member#<group key>      the storm episode (generation) a group joined

The count is one conditional `UpdateItem` (`ADD` to the set, answered with the set): atomic across every dispatch
container and FIFO message group, and idempotent for a redelivered message (a set counts a group once). The set
stops growing past `limit + 1` groups (a condition on its size), so a 10,000-group storm keeps the item small;
beyond that every new group is in the storm anyway.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

KEPT = timedelta(days=1)  # counting windows are at most 1 day long
MEMBER_KEPT = timedelta(days=7)


class StormStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def count(self, rule: str, window: str, group_key: str, limit: int) -> int:
        try:
            answer = self._table.update_item(
                Key={"pk": f"storm#{rule}", "sk": f"window#{window}"},
                UpdateExpression="ADD #g :g SET #x = if_not_exists(#x, :x)",
                ConditionExpression="attribute_not_exists(#g) OR size(#g) <= :limit OR contains(#g, :one)",
                ExpressionAttributeNames={"#g": "groups", "#x": "expiration"},
                ExpressionAttributeValues={
                    ":g": {group_key},
                    ":one": group_key,
                    ":limit": limit,
                    ":x": int(time.time() + 2 * KEPT.total_seconds()),
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return limit + 1  # full: more than `limit` groups already
            raise
        groups = answer.get("Attributes", {}).get("groups", set())
        return min(len(groups), limit + 1)

    def member(self, rule: str, group_key: str) -> int | None:
        item = self._table.get_item(Key={"pk": f"storm#{rule}", "sk": f"member#{group_key}"}, ConsistentRead=True).get(
            "Item"
        )
        return int(item["generation"]) if item else None

    def join(self, rule: str, group_key: str, generation: int) -> None:
        self._table.put_item(
            Item={
                "pk": f"storm#{rule}",
                "sk": f"member#{group_key}",
                "generation": generation,
                "expiration": int(time.time() + MEMBER_KEPT.total_seconds()),
            }
        )
