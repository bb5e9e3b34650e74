"""Storm counters and memberships, in the state table (keys `pk`/`sk`, TTL attribute `expiration`):

  storm#<rule> / window#<window start>   the distinct new group keys counted in one window (a string set)
  storm#<rule> / member#<group key>      the storm episode (generation) a group joined

The count is a consistent read and a put conditional on the item's version (read again on a conflict): exact across
every dispatch container and FIFO message group, and idempotent for a redelivered message (a set counts a group
once). The set stops growing past `limit + 1` groups, so a 10,000-group storm keeps the item small; beyond that
every new group is in the storm anyway (and once the storm is on, new groups join it without counting).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from alert_courier.domain.errors import StaleState

KEPT = timedelta(days=1)  # counting windows are at most 1 day long
MEMBER_KEPT = timedelta(days=7)
MAX_ATTEMPTS = 50  # conflicts only while many containers count new groups of one rule in the same moment


class StormStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def count(self, rule: str, window: str, group_key: str, limit: int) -> int:
        key = {"pk": f"storm#{rule}", "sk": f"window#{window}"}
        for _ in range(MAX_ATTEMPTS):
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            groups, version = set(item.get("groups", set())), int(item.get("version", 0))
            if group_key in groups or len(groups) > limit:
                return min(len(groups), limit + 1)  # counted already (a redelivery), or the storm is on
            counted = groups | {group_key}
            condition = (
                {"ConditionExpression": "attribute_not_exists(pk)"}
                if not version
                else {
                    "ConditionExpression": "#v = :v",
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": {":v": version},
                }
            )
            try:
                self._table.put_item(
                    Item={
                        **key,
                        "groups": counted,
                        "version": version + 1,
                        "expiration": int(time.time() + 2 * KEPT.total_seconds()),
                    },
                    **condition,
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    continue  # another container counted a group meanwhile: read again
                raise
            return min(len(counted), limit + 1)
        raise StaleState(f"storm counter {rule} {window}")

    def counted(self, rule: str, window: str) -> set[str]:
        """The window's distinct new groups so far, read only (`explain --state`)."""
        item = self._table.get_item(Key={"pk": f"storm#{rule}", "sk": f"window#{window}"}, ConsistentRead=True)
        return {str(group) for group in (item.get("Item") or {}).get("groups", set())}

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
