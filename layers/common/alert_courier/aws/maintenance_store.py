"""Maintenance windows and the alerts they hold, in the state table (keys `pk`/`sk`, TTL attribute `expiration`):

  maintenance / window#<id>                 a window not yet settled (`MaintenanceWindow` as JSON)
  maintenance / settled#<id>                a window whose end is done, kept 30 days past its end (listing only)
  maintenance#<id> / held#<transition id>   one alert transition the window holds, until the window's end is done

What dispatch and the scheduler read, `windows()`, is one Query of the `window#` items only: scheduled, open and
just-ended windows (at most `MAX_WINDOWS` open or scheduled at once), however many ended ones are kept.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from alert_courier.domain.alert import AlertEnvelope
from alert_courier.domain.maintenance import MaintenanceWindow, new_window_id
from alert_courier.use_cases.maintenance import HeldAlert

WINDOWS_PK = "maintenance"
LIVE = "window#"
SETTLED = "settled#"
KEPT_AFTER_END = timedelta(days=30)


class WindowChanged(Exception):
    """Someone else changed the window between our read and our write (read it again)."""


class UnknownWindow(LookupError):
    pass


def _expiry(window: MaintenanceWindow) -> int:
    return int((window.ends_at + KEPT_AFTER_END).timestamp())


class MaintenanceStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    # ---- windows ---------------------------------------------------------------------------------------

    def windows(self) -> list[MaintenanceWindow]:
        """The windows not yet settled (what dispatch and the scheduler need)."""
        return self._query(LIVE)

    def all_windows(self) -> list[MaintenanceWindow]:
        """Also the settled ones kept for 30 days after their end (`GET /maintenance`, `silence list --all`)."""
        return sorted(self._query(LIVE) + self._query(SETTLED), key=lambda window: (window.starts_at, window.id))

    def _query(self, prefix: str) -> list[MaintenanceWindow]:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": WINDOWS_PK, ":prefix": prefix},
            "ConsistentRead": True,
        }
        found: list[MaintenanceWindow] = []
        while True:
            page = self._table.query(**query)
            found += [MaintenanceWindow.model_validate_json(str(item["window"])) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda window: (window.starts_at, window.id))
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def window(self, window_id: str) -> MaintenanceWindow:
        for prefix in (LIVE, SETTLED):
            item = self._table.get_item(Key={"pk": WINDOWS_PK, "sk": f"{prefix}{window_id}"}, ConsistentRead=True).get(
                "Item"
            )
            if item:
                return MaintenanceWindow.model_validate_json(str(item["window"]))
        raise UnknownWindow(window_id)

    @staticmethod
    def new_id() -> str:
        return new_window_id(secrets.token_hex(8))

    def add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        self._table.put_item(
            Item={
                "pk": WINDOWS_PK,
                "sk": f"{LIVE}{window.id}",
                "window": window.model_dump_json(by_alias=True),
                "expiration": _expiry(window),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return window

    def _replace(self, before: MaintenanceWindow, after: MaintenanceWindow) -> MaintenanceWindow:
        try:
            self._table.put_item(
                Item={
                    "pk": WINDOWS_PK,
                    "sk": f"{LIVE}{after.id}",
                    "window": after.model_dump_json(by_alias=True),
                    "expiration": _expiry(after),
                },
                ConditionExpression="#w = :before",
                ExpressionAttributeNames={"#w": "window"},
                ExpressionAttributeValues={":before": before.model_dump_json(by_alias=True)},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise WindowChanged(after.id) from None
            raise
        return after

    def expire(self, window_id: str, now: datetime, by: str) -> MaintenanceWindow:
        """Ends the window now (if it has not ended); `UnknownWindow` if there is none with this id."""
        for _ in range(5):
            before = self.window(window_id)
            after = before.expired(now, by)
            if after == before or before.settled_at is not None:
                return before
            try:
                return self._replace(before, after)
            except WindowChanged:
                continue
        raise WindowChanged(window_id)

    def settle(self, window: MaintenanceWindow, now: datetime) -> None:
        """Moves the window out of what dispatch reads (`window#` → `settled#`), if nobody changed it meanwhile."""
        settled = window.model_copy(update={"settled_at": now})
        try:
            self._table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table.name,
                            "Key": {"pk": WINDOWS_PK, "sk": f"{LIVE}{window.id}"},
                            "ConditionExpression": "#w = :before",
                            "ExpressionAttributeNames": {"#w": "window"},
                            "ExpressionAttributeValues": {":before": window.model_dump_json(by_alias=True)},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": {
                                "pk": WINDOWS_PK,
                                "sk": f"{SETTLED}{window.id}",
                                "window": settled.model_dump_json(by_alias=True),
                                "expiration": _expiry(settled),
                            },
                        }
                    },
                ]
            )
        except ClientError as error:
            # Another run settled it, or it was changed (ended early): the next run looks again.
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise

    # ---- what windows hold ------------------------------------------------------------------------------

    def hold(self, window: MaintenanceWindow, envelope: AlertEnvelope) -> None:
        self._table.put_item(
            Item={
                "pk": f"{WINDOWS_PK}#{window.id}",
                "sk": f"held#{envelope.alert.transition_id()}",
                "envelope": envelope.model_dump_json(),
                "expiration": _expiry(window),
            }
        )

    def held(self, window_id: str) -> list[HeldAlert]:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"{WINDOWS_PK}#{window_id}"},
            "ConsistentRead": True,
        }
        found: list[HeldAlert] = []
        while True:
            page = self._table.query(**query)
            found += [
                HeldAlert(str(item["sk"]), AlertEnvelope.model_validate_json(str(item["envelope"])))
                for item in page.get("Items", [])
            ]
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def release(self, window_id: str, keys: list[str]) -> None:
        for key in keys:
            self._table.delete_item(Key={"pk": f"{WINDOWS_PK}#{window_id}", "sk": key})

    def held_count(self, window_id: str) -> int:
        page = self._table.query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": f"{WINDOWS_PK}#{window_id}"},
            Select="COUNT",
        )
        return int(page.get("Count", 0))
