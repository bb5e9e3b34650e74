"""The courier on the real DynamoDB adapters (moto, in-process: conditional writes, compression) and a fake
incident.io: once-only under concurrency, metrics, history. The same use case on in-memory fakes: tests/unit."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alert_courier.aws import dynamodb_stores as state_store
from alert_courier.aws.dynamodb_stores import OPEN_PK, ActionLedger, DecisionHistory, GroupStateStore
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.errors import ActionBusy, PermanentFailure, StaleState
from alert_courier.domain.group_state import GroupState, state_id_for
from alert_courier.domain.rules import parse_rules
from alert_courier.use_cases.courier import Courier
from alert_courier.use_cases.telemetry import RecordedTelemetry
from alert_courier.wiring import runner_on
from alert_courier_local.aws import serialised_dynamodb_in_process

RULES = parse_rules("rules: [{name: all, actions: [open_incident]}]")
SCHEMAS = {
    "incident_create": {
        "type": "object",
        "properties": {
            "name": {},
            "summary": {},
            "idempotency_key": {},
            "severity_id": {},
            "mode": {},
            "visibility": {},
        },
    },
    "incident_update": {"type": "object", "properties": {"incident_id": {}, "summary": {}, "incident_status_id": {}}},
}
ORG = {
    "severities": [{"id": "sev-crit", "name": "Critical"}, {"id": "sev-min", "name": "Minor"}],
    "incident_statuses": [{"id": "st-closed", "name": "Closed", "category": "closed"}],
}


class FakeIncidentIo:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def input_schemas(self) -> dict[str, dict[str, Any]]:
        return SCHEMAS

    def read_resource(self, uri: str, **_: Any) -> dict[str, Any]:
        return ORG

    def call_tool(self, name: str, arguments: dict[str, Any], **_: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append((name, arguments))
            number = len(self.calls)
        if name == "incident_create":
            return {"incident": {"id": f"inc-{number}", "reference": f"INC-{number}"}}
        return {"incident": {"id": arguments["incident_id"], "incident_status": {"name": "Closed"}}}


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # The session's local stack points AWS_ENDPOINT_URL at its moto server; this test wants in-process moto.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(), serialised_dynamodb_in_process():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        yield dynamodb.create_table(
            TableName=f"state-{uuid.uuid4().hex[:8]}",  # another test may leave a mock active
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )


def courier(table: Any, tools: FakeIncidentIo, telemetry: RecordedTelemetry) -> Courier:
    runner = runner_on(ActionLedger(table), tools, telemetry=telemetry)
    return Courier(GroupStateStore(table), runner, DecisionHistory(table), lambda: RULES)


def envelope(key: str, status: str = "firing") -> AlertEnvelope:
    alert = Alert(
        source="alertmanager",
        dedup_key=key,
        group_key="group-1",
        status=AlertStatus(status),
        severity=Severity.CRITICAL,
        title=f"alert {key}",
        started_at=datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
    )
    return AlertEnvelope(alert=alert, correlation_id="corr-1")


def test_redeliveries_open_one_incident_and_count_dedup_hits(table: Any) -> None:
    tools, telemetry = FakeIncidentIo(), RecordedTelemetry()
    subject = courier(table, tools, telemetry)
    for _ in range(3):
        subject.handle(envelope("a"))
    subject.handle(envelope("b"))
    assert [name for name, _ in tools.calls] == ["incident_create"]
    assert tools.calls[0][1]["severity_id"] == "sev-crit"
    assert telemetry.total("IncidentsOpened") == 1 and telemetry.total("DedupHits") == 3
    assert [name for name, *_ in telemetry.timings] == ["ToolCallLatency"]


def test_concurrent_workers_on_one_group_open_one_incident(table: Any) -> None:
    tools, telemetry = FakeIncidentIo(), RecordedTelemetry()
    subject = courier(table, tools, telemetry)
    handled: list[str] = []

    def work(key: str) -> None:
        for _ in range(20):
            try:
                subject.handle(envelope(key))
                handled.append(key)
                return
            except (ActionBusy, StaleState):  # SQS would redeliver the message
                time.sleep(0.01)

    threads = [threading.Thread(target=work, args=(f"k{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [name for name, _ in tools.calls] == ["incident_create"]
    state = GroupStateStore(table).load(
        next(iter(item["pk"][len("group#") :] for item in table.scan()["Items"] if item["pk"].startswith("group#")))
    )
    assert sorted(handled) == sorted(state.firing) == [f"k{i}" for i in range(6)]


def test_history_records_each_decision_with_its_reasons(table: Any) -> None:
    subject = courier(table, FakeIncidentIo(), RecordedTelemetry())
    subject.handle(envelope("a"))
    subject.handle(envelope("a", "resolved"))
    history = DecisionHistory(table).read("alertmanager", "a")
    assert [entry["status"] for entry in history] == ["firing", "resolved"]
    assert history[0]["results"][0]["incident_reference"] == "INC-1"
    assert history[1]["actions"][0]["kind"] == "resolve_incident" and history[1]["correlation_id"] == "corr-1"


PAGING = parse_rules("rules: [{name: page, actions: [{escalate: {escalation_path_id: path-1}}]}]")


class FlakyPager(FakeIncidentIo):
    """Pages on `execute`, but the first execute's answer is lost (the server acted)."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, dict[str, Any]] = {}
        self.lost_answers = 1

    def input_schemas(self) -> dict[str, dict[str, Any]]:
        props = {
            name: {}
            for name in (
                "title",
                "description",
                "escalation_path_id",
                "user_ids",
                "incident_id",
                "idempotency_key",
                "action",
                "suggestion_id",
                "status",
            )
        }
        return {
            **SCHEMAS,
            "escalation_create": {"type": "object", "properties": props},
            "escalation_list": {"type": "object", "properties": props},
        }

    def call_tool(self, name: str, arguments: dict[str, Any], **_: Any) -> dict[str, Any]:
        from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError

        self.calls.append((name, arguments))
        if name == "escalation_list":
            return {
                "escalations": [
                    p for p in self.pages.values() if p["idempotency_key"] == arguments.get("idempotency_key")
                ]
            }
        if arguments.get("action") == "execute":
            key = arguments["suggestion_id"]
            self.pages[key] = {"id": f"esc-{len(self.pages) + 1}", "status": "triggered", "idempotency_key": key}
            if self.lost_answers:
                self.lost_answers -= 1
                raise ToolCallError(FailureKind.AMBIGUOUS, "no answer", tool=name)
            return {"escalation": self.pages[key]}
        return {"suggestion_id": arguments["idempotency_key"]}


def test_a_page_whose_answer_was_lost_is_found_not_sent_again(table: Any) -> None:
    tools, telemetry = FlakyPager(), RecordedTelemetry()
    runner = runner_on(ActionLedger(table), tools, telemetry=telemetry)
    subject = Courier(GroupStateStore(table), runner, DecisionHistory(table), lambda: PAGING)
    result = subject.handle(envelope("a"))
    assert len(tools.pages) == 1 and result["results"][0]["found_by_recheck"]
    subject.handle(envelope("a"))  # a redelivery changes nothing
    assert [name for name, args in tools.calls if args.get("action") == "execute"] == ["escalation_create"]
    assert telemetry.total("Escalations") == 1


def big_group(firing: int) -> GroupState:
    started = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    keys = (hashlib.sha256(f"pod-{i}".encode()).hexdigest()[:16] for i in range(firing))
    return GroupState(
        group_id="big-group",
        firing={key: (started + timedelta(seconds=i % 600)).isoformat() for i, key in enumerate(keys)},
    )


def test_a_group_of_ten_thousand_firing_alerts_is_stored_compressed_and_reads_back(table: Any) -> None:
    store = GroupStateStore(table)
    state = big_group(10_000)
    assert len(state.model_dump_json()) > 400 * 1024  # as plain JSON it would not fit one DynamoDB item
    saved = store.save(state)
    again = store.save(saved)  # the second save reads the first back (ALL_OLD) to tidy timers
    item = table.get_item(Key={"pk": "group#big-group", "sk": "state"})["Item"]
    assert "state" not in item and len(item["state_z"].value) < 400 * 1024
    assert store.load("big-group").firing == state.firing and store.load("big-group").version == again.version == 2

    store.save(GroupState(group_id="small-group", firing={"a": "2026-11-25T03:00:00Z"}))
    assert "state" in table.get_item(Key={"pk": "group#small-group", "sk": "state"})["Item"]  # small stays readable


def test_a_group_too_big_for_one_item_is_dead_lettered_with_its_reason(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_store, "COMPRESS_STATE_ABOVE_BYTES", 64)
    # a few alerts stand in for ~17,000 (the first needs room for the actions its write-ahead records)
    monkeypatch.setattr(state_store, "MAX_STORED_STATE_BYTES", 1200)
    tools = FakeIncidentIo()
    subject = courier(table, tools, RecordedTelemetry())
    with pytest.raises(PermanentFailure, match=r"tracks \d+ firing alerts .* group these alerts more finely"):
        for number in range(200):
            subject.handle(envelope(f"pod-{number:04d}-{uuid.uuid4().hex}"))
    assert [name for name, _ in tools.calls] == ["incident_create"]  # the group's incident was still opened once
    entries = [json.loads(item["entry"]) for item in table.scan()["Items"] if item["pk"].startswith("history#")]
    assert any("firing alerts" in (entry["error"] or "") for entry in entries)  # `alert-courier history` says why


def test_a_claim_whose_lease_ran_out_unreleased_is_taken_again_as_ambiguous(table: Any) -> None:
    """Regression (issue 13, defect 4): a worker that died after acting left no `ambiguous` mark, so the next
    claim skipped the re-check and could act twice."""
    ledger = ActionLedger(table, lease_seconds=0.05)
    first = ledger.claim("open_incident#g#1")
    assert not first.done and not first.previously_ambiguous
    time.sleep(0.1)  # the worker died holding the claim: no release, no completion
    taken_over = ledger.claim("open_incident#g#1")
    assert taken_over.previously_ambiguous and taken_over.first_attempt_at == first.first_attempt_at
    ledger.release("open_incident#g#1", ambiguous=False)  # a clean failure: released, not ambiguous by itself
    assert ledger.claim("open_incident#g#1").previously_ambiguous  # still: the crash is remembered
    ledger.release("open_incident#g#1", ambiguous=False)
    ledger.claim("open_incident#g#2")
    ledger.release("open_incident#g#2", ambiguous=False)
    assert not ledger.claim("open_incident#g#2").previously_ambiguous  # released cleanly: nothing to check


class DynamoCalls:
    """Counts the DynamoDB calls a client makes (a botocore event hook): per operation, and those on group states."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, str]] = []  # (operation, the item's pk)
        client.meta.events.register("provide-client-params.dynamodb.*", self._seen)

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        key = params.get("Key") or params.get("Item") or {}
        self.calls.append((model.name, str(key.get("pk", ""))))

    def count(self, operation: str, *, state: bool | None = None, pk: str | None = None) -> int:
        """`state`: on group states or not; `pk`: on items of that partition only."""
        return sum(
            1
            for name, item_pk in self.calls
            if name == operation
            and (state is None or item_pk.startswith("group#") == state)
            and (pk is None or item_pk == pk)
        )

    def reset(self) -> None:
        self.calls.clear()


def test_a_packed_message_is_one_state_read_one_write_and_batch_written_history(table: Any) -> None:
    from alert_courier.aws.alert_queue import pack, read_message

    tools, telemetry = FakeIncidentIo(), RecordedTelemetry()
    subject = courier(table, tools, telemetry)
    counted = DynamoCalls(table.meta.client)

    def message(keys: range, status: str = "firing") -> list[AlertEnvelope]:
        (entry,) = pack([envelope(f"k{i}", status) for i in keys])
        return read_message(entry["MessageBody"])

    subject.handle_many(message(range(300)))
    assert [name for name, _ in tools.calls] == ["incident_create"]
    assert counted.count("GetItem", state=True) == 1
    assert counted.count("PutItem", state=True) + counted.count("UpdateItem", state=True) == 2  # write-ahead + final
    # the group enters the index of groups held open (the reconcile pass's) once; the history: batch writes only
    assert counted.count("PutItem", pk=OPEN_PK) == 1
    assert counted.count("PutItem", state=False) == 1
    assert 300 * 2 / 25 <= counted.count("BatchWriteItem") <= 300 * 3 / 25 + 2

    counted.reset()
    subject.handle_many(message(range(300, 600)))  # they join the open incident: nothing called
    assert counted.count("GetItem", state=True) == 1
    assert counted.count("PutItem", state=True) + counted.count("UpdateItem", state=True) == 1
    assert counted.count("PutItem", state=False) == 0  # already in the index
    assert len(tools.calls) == 1
    assert GroupStateStore(table).open_group_ids().count(state_id_for("alertmanager", "group-1")) == 1

    counted.reset()
    subject.handle_many(message(range(600), "resolved"))
    assert [name for name, _ in tools.calls] == ["incident_create", "incident_update"]
    assert counted.count("GetItem", state=True) == 1
    assert counted.count("PutItem", state=True) + counted.count("UpdateItem", state=True) == 2
    assert counted.count("DeleteItem", pk=OPEN_PK) == 1  # no longer held open: out of the index
    assert state_id_for("alertmanager", "group-1") not in GroupStateStore(table).open_group_ids()
    history = DecisionHistory(table)
    assert [entry["status"] for entry in history.read("alertmanager", "k7")] == ["firing", "resolved"]
