"""DynamoDB adapters: group state (optimistic locking), the action ledger (claims), decision history,
escalation timers and heartbeat records.

One table, keys `pk`/`sk`, TTL attribute `expiration`:
  group#<state id> / state              one alert group's state (`GroupStateStore`)
  action#<action key> / action          a claimed side effect (`ActionLedger`)
  history#<source>#<dedup key> / <time> one decision (`DecisionHistory`; indexed by group, copied to
                                        feed#<hour> / <time>, incident#<name> / incident pointers: `history_index`)
  open / <state id>                    a group held open (an incident open or an alert firing), for the reconcile
                                        pass (`GroupStateStore.open_group_ids`)
  timer / <due at>#<state id>#<generation>#<level>
                                        a pending escalation level, by due time (`EscalationTimers`)
  heartbeat#<name> / ping#<instance>    the last ping of a heartbeat instance (`HeartbeatStore`)
  heartbeat#<name> / state#<instance>   what the scheduler remembers of it (`HeartbeatStore`)

`scan_live_state` reads every group and heartbeat item at once (a table scan: for the operator's `status`).
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from alert_courier.domain.errors import ActionBusy, GroupTooLarge, StaleState
from alert_courier.domain.escalation_timers import TIMER_PK, Timer, due_bound, parse_sortable, sortable, timers_for
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.heartbeat_decisions import HeartbeatState
from alert_courier.use_cases.ports import Claim, HeartbeatRecords

STATE_SK = "state"
LEDGER_SK = "action"
GROUP_STATE_DAYS = 90
HISTORY_DAYS = 30
TIMER_DAYS = 30  # a timer nobody processed is dropped by TTL after this long past its due time
HEARTBEAT_DAYS = 30  # an instance that has not pinged for this long is forgotten


# A group's state is one item (DynamoDB allows 400 KB). Its firing set grows ~50 bytes per alert, so a big state is
# stored zlib-compressed (~3.5x smaller: ~17,000 firing alerts per group instead of ~5,000, and fewer write units).
COMPRESS_STATE_ABOVE_BYTES = 16 * 1024
MAX_STORED_STATE_BYTES = 380 * 1024  # leaves room for the keys and other attributes under 400 KB


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
        return _stored_state(item)

    def save(self, state: GroupState) -> GroupState:
        """Writes version+1 only if the stored version is still the one we read.

        Each pending escalation level also gets a timer item, written before the state so that no saved level
        is ever without one; the timers of levels the save cleared are deleted after it. A timer whose save lost
        (or whose delete was lost) is harmless: the scheduler checks every timer against the state.
        """
        saved, timers = self._before_saving(state)
        try:
            response = self._table.put_item(
                Item=_group_item(saved),
                ConditionExpression="attribute_not_exists(pk) OR version = :read",
                ExpressionAttributeValues={":read": state.version},
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise StaleState(state.group_id) from None
            raise
        self._after_saving(state, saved)
        previous = (response or {}).get("Attributes") or {}
        if previous.get("state") or previous.get("state_z"):
            for timer in timers_for(_stored_state(previous)):
                if timer.sk not in timers:
                    self._table.delete_item(Key={"pk": TIMER_PK, "sk": timer.sk})
        return saved

    def save_together(self, first: GroupState, second: GroupState) -> None:
        """Both groups or neither (one TransactWriteItems), each only if its stored version is still the one read
        (else StaleState). Timers of levels cleared here are left to the scheduler, which drops stale timers."""
        saved = [self._before_saving(state)[0] for state in (first, second)]
        client = self._table.meta.client
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": _group_item(item),
                            "ConditionExpression": "attribute_not_exists(pk) OR version = :read",
                            "ExpressionAttributeValues": {":read": state.version},
                        }
                    }
                    for state, item in zip((first, second), saved, strict=True)
                ]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("TransactionCanceledException",):
                raise StaleState(f"{first.group_id} or {second.group_id}") from None
            raise
        for state, item in zip((first, second), saved, strict=True):
            self._after_saving(state, item)

    def _before_saving(self, state: GroupState) -> tuple[GroupState, dict[str, Timer]]:
        """The state as it will be stored, with its index marker and timers written first."""
        now = datetime.now(UTC)
        saved = state.model_copy(update={"version": state.version + 1, "updated_at": now})
        held, indexed = _held_open(saved), state.open_indexed_at
        if held and (indexed is None or now - indexed > OPEN_INDEX_REFRESH):
            # before the state, as timers: no group held open is ever missing from the index (its item outlives
            # the refresh); once per episode, so a message's save stays one write
            self._table.put_item(Item={"pk": OPEN_PK, "sk": state.group_id, "expiration": _expiry(GROUP_STATE_DAYS)})
            saved = saved.model_copy(update={"open_indexed_at": now})
        elif not held and indexed is not None:
            saved = saved.model_copy(update={"open_indexed_at": None})
        timers = {timer.sk: timer for timer in timers_for(saved)}
        for timer in timers.values():
            _put_timer(self._table, timer)
        return saved, timers

    def _after_saving(self, state: GroupState, saved: GroupState) -> None:
        if state.open_indexed_at is not None and not _held_open(saved):
            self._table.delete_item(Key={"pk": OPEN_PK, "sk": state.group_id})  # a lost delete costs a read

    def open_group_ids(self) -> list[str]:
        """The groups held open, from the `open` index (one query, pages of 1 MB)."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :open",
            "ExpressionAttributeValues": {":open": OPEN_PK},
        }
        while True:
            page = self._table.query(**kwargs)
            ids += [str(item["sk"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


OPEN_PK = "open"
OPEN_INDEX_REFRESH = timedelta(days=30)  # the index item lives GROUP_STATE_DAYS: rewritten well before it goes


def _held_open(state: GroupState) -> bool:
    """In the reconcile pass's index: what fires or holds an incident open, and leftovers no message may carry."""
    return bool(state.firing) or state.incident_open or bool(state.unfinished)


def _group_item(saved: GroupState) -> dict[str, Any]:
    return {
        "pk": f"group#{saved.group_id}",
        "sk": STATE_SK,
        "version": saved.version,
        **_state_attribute(saved),
        "incident_open": saved.incident_open,
        "expiration": _expiry(GROUP_STATE_DAYS),
    }


def _state_attribute(state: GroupState) -> dict[str, Any]:
    """`state` (JSON text) for a small group, `state_z` (zlib-compressed JSON, binary) for a big one."""
    text = state.model_dump_json()
    if len(text) <= COMPRESS_STATE_ABOVE_BYTES:
        return {"state": text}
    packed = zlib.compress(text.encode(), 6)
    if len(packed) > MAX_STORED_STATE_BYTES:
        raise GroupTooLarge(state.group_id, len(state.firing), len(packed), MAX_STORED_STATE_BYTES)
    return {"state_z": packed}


def _stored_state(item: dict[str, Any]) -> GroupState:
    if "state_z" in item:
        packed = item["state_z"]
        return GroupState.model_validate_json(zlib.decompress(getattr(packed, "value", packed)))
    return GroupState.model_validate_json(item["state"])


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
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if not _is_conditional_failure(error):
                raise
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            if item.get("status") == "done":
                return Claim(action_key, done=True, result=json.loads(item.get("result", "{}")))
            raise ActionBusy(action_key) from None
        previous = response.get("Attributes") or {}
        abandoned = float(previous.get("lease_until", 0)) > 0  # its worker died mid-action, perhaps after acting
        if abandoned and not previous.get("ambiguous"):
            self._table.update_item(
                Key=key, UpdateExpression="SET ambiguous = :true", ExpressionAttributeValues={":true": True}
            )
        return Claim(
            action_key,
            done=False,
            previously_ambiguous=bool(previous.get("ambiguous", False)) or abandoned,
            first_attempt_at=float(previous.get("first_attempt_at", _decimal(now))),
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
        """Also writes what the operator's lookups need (`history_index`): index attributes, incident pointers."""
        for item in self._items(source, dedup_key, entry, datetime.now(UTC)):
            self._table.put_item(Item=item)

    def record_many(self, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
        """The same items as `record` for each, in BatchWriteItem calls (25 items each; a pointer written by
        several entries goes once, the last one's)."""
        now = datetime.now(UTC)
        with self._table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for source, dedup_key, entry in entries:
                for item in self._items(source, dedup_key, entry, now):
                    batch.put_item(Item=item)

    def _items(self, source: str, dedup_key: str, entry: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
        from alert_courier.aws.history_index import feed_item, incident_pointers, index_attributes

        expiration = _expiry(HISTORY_DAYS)
        item = {
            "pk": f"history#{source}#{dedup_key}",
            "sk": f"{now.isoformat()}#{entry.get('transition_id', '')[:16]}",
            "entry": json.dumps(entry, default=str),
            "expiration": expiration,
            **index_attributes(entry),
        }
        return [*incident_pointers(entry, source, dedup_key, expiration), item, feed_item(item, now)]

    def read(self, source: str, dedup_key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"history#{source}#{dedup_key}"},
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(
                {**json.loads(item["entry"]), "recorded_at": str(item["sk"]).split("#", 1)[0]}  # the sort key's time
                for item in page.get("Items", [])
            )
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class EscalationTimers:
    """Pending escalation levels by due time: one query finds what is due, however many groups are quiet."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def due(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        """The earliest timers due at or before `now` (at most `limit`), oldest first."""
        timers: list[Timer] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk <= :due",
            "ExpressionAttributeValues": {":pk": TIMER_PK, ":due": due_bound(now)},
            "ConsistentRead": True,
            "Limit": limit,
        }
        while len(timers) < limit:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                try:
                    timers.append(Timer.from_sk(str(item["sk"])))
                except ValueError:
                    self._table.delete_item(Key={"pk": TIMER_PK, "sk": item["sk"]})  # not ours: drop it
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return timers[:limit]

    def put(self, timer: Timer) -> None:
        _put_timer(self._table, timer)

    def delete(self, timer: Timer) -> None:
        self._table.delete_item(Key={"pk": TIMER_PK, "sk": timer.sk})


def _put_timer(table: Any, timer: Timer) -> None:
    table.put_item(
        Item={
            "pk": TIMER_PK,
            "sk": timer.sk,
            "state_id": timer.state_id,
            "generation": timer.generation,
            "level": timer.level,
            "due_at": sortable(timer.due_at),
            "expiration": int(timer.due_at.timestamp()) + TIMER_DAYS * 86400,
        }
    )


class HeartbeatStore:
    """Last pings (written by ingest and dispatch) and per-instance states (written by the scheduler)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def record_ping(self, name: str, instance: str, at: datetime, *, via: str) -> bool:
        """Moves `last_seen` forward to `at`; an older or equal ping (a late or repeated delivery) changes nothing."""
        seen = sortable(at)
        try:
            self._table.update_item(
                Key={"pk": f"heartbeat#{name}", "sk": f"ping#{instance}"},
                UpdateExpression=(
                    "SET last_seen = :seen, via = :via, expiration = :expiration, "
                    "first_seen = if_not_exists(first_seen, :seen) ADD pings :one"
                ),
                ConditionExpression="attribute_not_exists(last_seen) OR last_seen < :seen",
                ExpressionAttributeValues={
                    ":seen": seen,
                    ":via": via[:64],
                    ":expiration": int(at.timestamp()) + HEARTBEAT_DAYS * 86400,
                    ":one": 1,
                },
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True

    def load(self, name: str) -> HeartbeatRecords:
        pings: dict[str, datetime] = {}
        states: dict[str, HeartbeatState] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"heartbeat#{name}"},
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                _read_heartbeat_item(item, pings, states)
            if "LastEvaluatedKey" not in page:
                return HeartbeatRecords(pings, states)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def load_state(self, name: str, instance: str) -> HeartbeatState | None:
        item = self._table.get_item(
            Key={"pk": f"heartbeat#{name}", "sk": f"state#{instance}"}, ConsistentRead=True
        ).get("Item")
        return HeartbeatState.model_validate_json(item["state"]) if item else None

    def save_state(self, state: HeartbeatState) -> HeartbeatState:
        """Optimistic locking, as for alert groups: raises StaleState if another run saved it since we read it."""
        saved = state.model_copy(update={"version": state.version + 1, "updated_at": datetime.now(UTC)})
        try:
            self._table.put_item(
                Item={
                    "pk": f"heartbeat#{state.name}",
                    "sk": f"state#{state.instance}",
                    "version": saved.version,
                    "state": saved.model_dump_json(),
                    "missed": saved.missed,
                    "expiration": _expiry(GROUP_STATE_DAYS),
                },
                ConditionExpression="attribute_not_exists(pk) OR version = :read",
                ExpressionAttributeValues={":read": state.version},
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise StaleState(state.key) from None
            raise
        return saved


def _read_heartbeat_item(item: dict[str, Any], pings: dict[str, datetime], states: dict[str, HeartbeatState]) -> None:
    kind, _, instance = str(item["sk"]).partition("#")
    if kind == "ping" and item.get("last_seen"):
        pings[instance] = parse_sortable(str(item["last_seen"]))
    elif kind == "state":
        states[instance] = HeartbeatState.model_validate_json(item["state"])


@dataclass
class LiveState:
    """Every alert group's state and every heartbeat's records, as one scan of the table found them."""

    groups: list[GroupState] = field(default_factory=list)
    heartbeats: dict[str, HeartbeatRecords] = field(default_factory=dict)  # heartbeat name → its records
    scanned_items: int = 0


def scan_live_state(table: Any) -> LiveState:
    """Scans the whole table for `group#` and `heartbeat#` items (an operator's read, not for the functions:
    it reads every item, so it costs read units in proportion to the table's size)."""
    live = LiveState()
    kwargs: dict[str, Any] = {
        "FilterExpression": "begins_with(pk, :group) OR begins_with(pk, :heartbeat)",
        "ExpressionAttributeValues": {":group": "group#", ":heartbeat": "heartbeat#"},
        "ConsistentRead": True,
    }
    while True:
        page = table.scan(**kwargs)
        live.scanned_items += int(page.get("ScannedCount", 0))
        for item in page.get("Items", []):
            pk = str(item["pk"])
            if pk.startswith("group#") and item.get("sk") == STATE_SK:
                live.groups.append(_stored_state(item))
            elif pk.startswith("heartbeat#"):
                records = live.heartbeats.setdefault(pk.removeprefix("heartbeat#"), HeartbeatRecords({}, {}))
                _read_heartbeat_item(item, records.pings, records.states)
        if "LastEvaluatedKey" not in page:
            return live
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _decimal(value: float) -> Any:
    from decimal import Decimal

    return Decimal(str(round(value, 3)))
