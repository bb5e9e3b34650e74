"""Counts a botocore DynamoDB client's calls and the write units DynamoDB would charge for them (bench only).

Hooks on the client's events (`before-call`, `after-call`) see every request. Write units follow DynamoDB's rule
for on-demand tables: 1 per KB (rounded up) of each item written, at least 1, twice that in a transaction. An
item's size is taken from the request when it carries the item (PutItem, BatchWriteItem, a transaction's Put), else
from moto's stored item after the call (UpdateItem; DynamoDB charges the larger of before and after, so a shrinking
update is under-counted), and a delete counts 1. moto's own ConsumedCapacity is not used: it says 0.5 for a write.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from typing import Any

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
ACCOUNT = "123456789012"  # moto's default account, the local stack's


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size of a low-level item ({"name": {"S": ...}}): names plus values, as documented."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    (kind, data), *_ = value.items()
    if kind in ("S", "B"):
        return len(data.encode()) if kind == "S" else math.ceil(len(data) * 3 / 4)  # B is base64 on the wire
    if kind == "N":
        return 1 + math.ceil(len(str(data).lstrip("-").replace(".", "")) / 2)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_bytes({kind[0]: member}) for member in data)
    if kind == "L":
        return 3 + sum(1 + _value_bytes(member) for member in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_bytes(v) for k, v in data.items())
    return 1


def _units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


class DynamoDbMeter:
    def __init__(self, region: str = "us-east-1") -> None:
        self._region = region
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.write_units = 0

    def attach(self, client: Any) -> DynamoDbMeter:
        client.meta.events.register("before-call.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)
        return self

    def snapshot(self) -> tuple[dict[str, int], int]:
        with self._lock:
            return dict(self.calls), self.write_units

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if model.name in WRITES:
            body = params.get("body") or b"{}"
            context["bench_request"] = json.loads(body.decode() if isinstance(body, bytes) else body)

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        units = self._write_units(model.name, context.get("bench_request") or {})
        with self._lock:
            self.calls[model.name] += 1
            self.write_units += units

    def _write_units(self, operation: str, request: dict[str, Any]) -> int:
        if operation == "PutItem":
            return _units(item_bytes(request.get("Item") or {}))
        if operation == "UpdateItem":
            return _units(self._stored_bytes(request.get("TableName", ""), request.get("Key") or {}))
        if operation == "DeleteItem":
            return 1
        if operation == "BatchWriteItem":
            return sum(
                _units(item_bytes(entry["PutRequest"]["Item"])) if "PutRequest" in entry else 1
                for entries in (request.get("RequestItems") or {}).values()
                for entry in entries
            )
        if operation == "TransactWriteItems":
            total = 0
            for entry in request.get("TransactItems") or []:
                if "Put" in entry:
                    total += _units(item_bytes(entry["Put"].get("Item") or {}))
                elif "Update" in entry:
                    update = entry["Update"]
                    total += _units(self._stored_bytes(update.get("TableName", ""), update.get("Key") or {}))
                else:
                    total += 1
            return 2 * total
        return 0

    def _stored_bytes(self, table_name: str, key: dict[str, Any]) -> int:
        """The item's size as moto stores it now (moto runs in this process); 1 KB when it cannot be read."""
        try:
            from moto.dynamodb.models import dynamodb_backends
            from moto.dynamodb.models.dynamo_type import DynamoType

            table = dynamodb_backends[ACCOUNT][self._region].get_table(table_name)
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            item = table.get_item(hash_key, range_key)
            return int(item.size()) if item is not None else 1
        except Exception:  # moto's internals are not an API: a guess beats a broken bench
            return 1024
