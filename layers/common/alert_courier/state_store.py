"""DynamoDB adapters: group state (optimistic locking), the action ledger (claims) and decision history.

One table, keys `pk`/`sk`, TTL attribute `expiration`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from .group_state import GroupState

STATE_SK = "state"
LEDGER_SK = "action"
GROUP_STATE_DAYS = 90
HISTORY_DAYS = 30


class StaleState(Exception):
    """Someone else saved this group since we read it: re-read and decide again."""


class ActionBusy(Exception):
    """Another worker holds the claim on this action right now: try the message again later."""


def _is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _expiry(days: int) -> int:
    return int(time.time()) + days * 86400


class GroupStateStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def load(self, group_id: str) -> GroupState:
        item = self._table.get_item(Key={"pk": f"group#{group_id}", "sk": STATE_SK}, ConsistentRead=True).get("Item")
        if not item:
            return GroupState(group_id=group_id)
        return GroupState.model_validate_json(item["state"])

    def save(self, state: GroupState) -> GroupState:
        """Writes version+1 only if the stored version is still the one we read."""
        saved = state.model_copy(update={"version": state.version + 1, "updated_at": datetime.now(UTC)})
        try:
            self._table.put_item(
                Item={
                    "pk": f"group#{state.group_id}",
                    "sk": STATE_SK,
                    "version": saved.version,
                    "state": saved.model_dump_json(),
                    "incident_open": saved.incident_open,
                    "expiration": _expiry(GROUP_STATE_DAYS),
                },
                ConditionExpression="attribute_not_exists(pk) OR version = :read",
                ExpressionAttributeValues={":read": state.version},
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise StaleState(state.group_id) from None
            raise
        return saved


@dataclass(frozen=True)
class Claim:
    action_key: str
    done: bool
    result: dict[str, Any] | None = None
    previously_ambiguous: bool = False  # an earlier attempt may have reached the server: re-check first
    first_attempt_at: float = 0.0


class ActionLedger:
    """Claims a side effect before it is performed, so redeliveries and concurrent workers act once."""

    def __init__(self, table: Any, *, lease_seconds: float = 90.0, remember_days: int = 14) -> None:
        self._table = table
        self._lease = lease_seconds
        self._remember_days = remember_days

    def claim(self, action_key: str) -> Claim:
        now = time.time()
        key = {"pk": f"action#{action_key}", "sk": LEDGER_SK}
        try:
            response = self._table.update_item(
                Key=key,
                UpdateExpression=(
                    "SET #status = :in_progress, lease_until = :lease, expiration = :expiration, "
                    "first_attempt_at = if_not_exists(first_attempt_at, :now), "
                    "attempts = if_not_exists(attempts, :zero) + :one"
                ),
                ConditionExpression="attribute_not_exists(pk) OR (#status = :in_progress AND lease_until < :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":in_progress": "in_progress",
                    ":lease": _decimal(now + self._lease),
                    ":now": _decimal(now),
                    ":expiration": _expiry(self._remember_days),
                    ":zero": 0,
                    ":one": 1,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not _is_conditional_failure(error):
                raise
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            if item.get("status") == "done":
                return Claim(action_key, done=True, result=json.loads(item.get("result", "{}")))
            raise ActionBusy(action_key) from None
        item = response["Attributes"]
        return Claim(
            action_key,
            done=False,
            previously_ambiguous=bool(item.get("ambiguous", False)),
            first_attempt_at=float(item.get("first_attempt_at", now)),
        )

    def complete(self, action_key: str, result: dict[str, Any]) -> None:
        self._table.update_item(
            Key={"pk": f"action#{action_key}", "sk": LEDGER_SK},
            UpdateExpression="SET #status = :done, #result = :result, completed_at = :now, expiration = :expiration",
            ExpressionAttributeNames={"#status": "status", "#result": "result"},
            ExpressionAttributeValues={
                ":done": "done",
                ":result": json.dumps(result, default=str),
                ":now": _decimal(time.time()),
                ":expiration": _expiry(self._remember_days),
            },
        )

    def release(self, action_key: str, *, ambiguous: bool) -> None:
        """Gives the claim back after a failure; an ambiguous one is remembered so the next try re-checks."""
        update = "SET lease_until = :zero" + (", ambiguous = :true" if ambiguous else "")
        values: dict[str, Any] = {":zero": 0}
        if ambiguous:
            values[":true"] = True
        self._table.update_item(
            Key={"pk": f"action#{action_key}", "sk": LEDGER_SK},
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )


class DecisionHistory:
    """One record per alert transition handled: what arrived, why, which tool calls, their results."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def record(self, source: str, dedup_key: str, entry: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        self._table.put_item(
            Item={
                "pk": f"history#{source}#{dedup_key}",
                "sk": f"{now.isoformat()}#{entry.get('transition_id', '')[:16]}",
                "entry": json.dumps(entry, default=str),
                "expiration": _expiry(HISTORY_DAYS),
            }
        )

    def read(self, source: str, dedup_key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"history#{source}#{dedup_key}"},
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(json.loads(item["entry"]) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _decimal(value: float) -> Any:
    from decimal import Decimal

    return Decimal(str(round(value, 3)))
