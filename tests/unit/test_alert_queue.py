"""Packing alerts into SQS messages and batches: limits respected, every alert exactly once, in order per group;
the older one-alert messages still read."""

from __future__ import annotations

import json
import random
import string
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from alert_courier.aws.alert_queue import (
    COMPRESS_OVER_BYTES,
    MAX_BATCH_BYTES,
    MAX_PACKED_BYTES,
    AlertQueue,
    EnqueueFailed,
    UnreadableMessage,
    batches,
    fitted_body,
    message_group_id,
    pack,
    read_message,
    sqs_safe,
)
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus

STARTED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def envelope(key: str, group: str = "g", description: str = "") -> AlertEnvelope:
    alert = Alert(
        source="alertmanager",
        dedup_key=key,
        group_key=group,
        status=AlertStatus.FIRING,
        title=key,
        description=description,
        started_at=STARTED,
    )
    return AlertEnvelope(alert=alert, correlation_id="c")


def entries_of(envelopes: list[AlertEnvelope]) -> list[dict[str, Any]]:
    return [{"Id": str(i), **entry} for i, entry in enumerate(pack(envelopes))]


def read_all(entries: list[dict[str, Any]]) -> list[AlertEnvelope]:
    return [envelope for entry in entries for envelope in read_message(entry["MessageBody"])]


def noise(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=size))


def test_thousands_of_alerts_split_within_sqs_limits() -> None:
    rng = random.Random(7)  # incompressible descriptions: many messages, none over the limit
    envelopes = [envelope(f"k{i}", group=f"g{i % 4}", description=noise(rng, 3000)) for i in range(2500)]
    entries = entries_of(envelopes)
    assert all(len(e["MessageBody"].encode()) <= MAX_PACKED_BYTES for e in entries)
    packed = list(batches(entries))
    assert all(len(batch) <= 10 for batch in packed)
    assert all(sum(len(e["MessageBody"].encode()) for e in batch) <= MAX_BATCH_BYTES for batch in packed)
    assert sorted(e["Id"] for batch in packed for e in batch) == sorted(e["Id"] for e in entries)
    raw = sum(len(e.alert.model_dump_json()) for e in envelopes)
    assert len(entries) <= 2 * (raw // MAX_PACKED_BYTES + 4)  # as few as fit: at most twice the floor, per group
    read = read_all(entries)
    assert [e.alert.dedup_key for e in read if e.alert.group_key == "g1"] == [f"k{i}" for i in range(1, 2500, 4)]
    assert read and all(r == e for r, e in zip(sorted(read, key=key_of), sorted(envelopes, key=key_of), strict=True))


def key_of(envelope: AlertEnvelope) -> str:
    return envelope.alert.dedup_key


def test_a_storm_of_one_group_is_a_few_compressed_messages_read_back_in_order() -> None:
    envelopes = [envelope(f"k{i}", description=f"disk full on node {i}") for i in range(10_000)]
    entries = entries_of(envelopes)
    assert 1 <= len(entries) <= 3
    assert all(json.loads(e["MessageBody"]).keys() == {"batch", "zlib"} for e in entries)
    assert all(len(e["MessageBody"].encode()) <= MAX_PACKED_BYTES for e in entries)
    assert read_all(entries) == envelopes


def test_a_small_notification_is_one_plain_message_per_group() -> None:
    envelopes = [envelope(f"k{i}", group=f"g{i % 2}") for i in range(6)]
    entries = entries_of(envelopes)
    assert len(entries) == 2 and all(len(e["MessageBody"]) <= COMPRESS_OVER_BYTES for e in entries)
    assert {e["MessageGroupId"] for e in entries} == {message_group_id(envelopes[0]), message_group_id(envelopes[1])}
    assert json.loads(entries[0]["MessageBody"])["batch"] == 1
    assert read_all(entries) == [envelopes[i] for i in (0, 2, 4, 1, 3, 5)]


def test_same_group_same_message_group_and_redelivery_same_dedup_id() -> None:
    a, b = envelope("a"), envelope("b")
    assert message_group_id(a) == message_group_id(b) != message_group_id(envelope("a", group="other"))
    first = pack([a, b])[0]["MessageDeduplicationId"]
    assert first == pack([envelope("a"), envelope("b")])[0]["MessageDeduplicationId"]
    assert first != pack([a])[0]["MessageDeduplicationId"] != pack([b])[0]["MessageDeduplicationId"]


def test_the_one_alert_messages_of_earlier_versions_are_still_read() -> None:
    """Messages queued before a deploy are read by the new dispatch."""
    old = envelope("old", description="queued by the previous version")
    assert read_message(fitted_body(old)) == [old]


@pytest.mark.parametrize(
    "body", ["", "not json", "[]", '{"batch": 1}', '{"batch": 1, "zlib": "***"}', '{"alert": {}, "correlation_id": 1}']
)
def test_an_unreadable_message_is_refused_with_a_reason(body: str) -> None:
    with pytest.raises(UnreadableMessage) as caught:
        read_message(body)
    assert str(caught.value)


def test_a_huge_alert_is_clipped_not_dropped() -> None:
    body = fitted_body(envelope("big", description="y" * (MAX_BATCH_BYTES * 2)))
    assert len(body.encode()) <= MAX_BATCH_BYTES
    assert AlertEnvelope.model_validate_json(body).alert.dedup_key == "big"


def test_senders_without_a_start_time_are_told_apart_by_arrival() -> None:
    """trigger → resolve → trigger within SQS' 5-minute dedup window must not drop the second trigger."""
    first = Alert(
        source="generic", dedup_key="k", group_key="k", status=AlertStatus.FIRING, title="t", received_at=STARTED
    )
    later = first.model_copy(update={"received_at": datetime(2026, 11, 25, 3, 2, tzinfo=UTC)})
    assert first.transition_id() != later.transition_id()
    assert first.transition_id() == first.model_copy().transition_id()


# --- what SQS refuses: characters, sizes, outages, time ----------------------------------------------------------

SQS_REFUSED = ["\ufffe", "\uffff", "\x00", "\x01", "\x08", "\x0b", "\x1f"]


@pytest.mark.parametrize("character", SQS_REFUSED)
def test_characters_sqs_refuses_are_escaped_and_read_back_unchanged(character: str) -> None:
    text = f"a{character}b\u2028\U0001f525\ue000\ufffd"
    original = envelope("k", description=text)
    body = fitted_body(
        original.model_copy(update={"alert": original.alert.model_copy(update={"labels": {text: text}})})
    )
    assert all(
        ch in "\t\n\r" or 0x20 <= ord(ch) <= 0xD7FF or 0xE000 <= ord(ch) <= 0xFFFD or ord(ch) > 0xFFFF for ch in body
    )
    read = AlertEnvelope.model_validate_json(body).alert
    assert read.description == text and read.labels == {text: text}
    packed = pack([original.model_copy(update={"alert": read})])[0]["MessageBody"]
    assert all(
        ch in "\t\n\r" or 0x20 <= ord(ch) <= 0xD7FF or 0xE000 <= ord(ch) <= 0xFFFD or ord(ch) > 0xFFFF for ch in packed
    )
    assert read_message(packed)[0].alert == read


def test_sqs_safe_leaves_allowed_text_alone() -> None:
    text = '{"a":"tab\\t caf\u00e9 \ud7ff \ue000 \ufffd \U0010ffff"}'
    assert sqs_safe(text) == text


def test_an_alert_of_escape_heavy_text_still_fits_one_message() -> None:
    """Control characters cost six bytes each in JSON: the fallback steps still make it fit, with notes."""
    heavy = "\x01" * 1024
    alert = Alert(
        source="alertmanager",
        dedup_key="k",
        group_key="g",
        status=AlertStatus.FIRING,
        title=heavy,
        description=heavy * 8,
        labels={f"l{i}{heavy[:100]}": heavy for i in range(100)},
        annotations={f"a{i}{heavy[:100]}": heavy * 4 for i in range(50)},
        links={f"k{i}": "https://x/" + heavy * 2 for i in range(20)},
        raw={"severity_word": "critical", "big": [heavy] * 100},
    )
    body = fitted_body(AlertEnvelope(alert=alert, correlation_id="c"))
    assert len(body.encode()) <= MAX_BATCH_BYTES
    read = AlertEnvelope.model_validate_json(body).alert
    assert read.dedup_key == "k" and read.raw["severity_word"] == "critical"
    assert read.raw["intake_notes"] and read.raw["clipped"] is True


class FailingSqs:
    def __init__(self, error: Exception | None = None, fail_from: int = 0, delay: float = 0.0) -> None:
        self.error, self.fail_from, self.delay = error, fail_from, delay
        self.calls = 0
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            number, self.calls = self.calls, self.calls + 1
        time.sleep(self.delay)
        if self.error is not None and number >= self.fail_from:
            raise self.error
        with self.lock:
            self.sent += [entry["Id"] for entry in Entries]
        return {}


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue"}}, "SendMessageBatch"),
        ClientError({"Error": {"Code": "ThrottlingException"}}, "SendMessageBatch"),
        ClientError({"Error": {"Code": "AccessDenied"}}, "SendMessageBatch"),
        EndpointConnectionError(endpoint_url="https://sqs.eu-west-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://sqs.eu-west-1.amazonaws.com"),
    ],
)
def test_any_aws_failure_is_enqueue_failed(error: Exception) -> None:
    with pytest.raises(EnqueueFailed) as caught:
        AlertQueue(FailingSqs(error), "url").enqueue([envelope(f"k{i}") for i in range(25)])
    assert caught.value.code == "aws_error"


def test_after_the_first_failed_batch_no_new_batch_starts() -> None:
    sqs = FailingSqs(ClientError({"Error": {"Code": "ThrottlingException"}}, "SendMessageBatch"), delay=0.01)
    with pytest.raises(EnqueueFailed):
        AlertQueue(sqs, "url").enqueue([envelope(f"k{i}", group=f"g{i}") for i in range(2000)])  # 200 batches
    time.sleep(0.2)  # let in-flight calls end
    assert sqs.calls < 200


def test_the_time_budget_ends_the_wait_before_the_function_times_out() -> None:
    deadline = time.monotonic() + 2.0
    sqs = FailingSqs(delay=0.3)
    started = time.monotonic()
    with pytest.raises(EnqueueFailed) as caught:
        AlertQueue(sqs, "url").enqueue(
            [envelope(f"k{i}", group=f"g{i}") for i in range(400)],
            remaining_seconds=lambda: deadline - time.monotonic(),
        )
    assert caught.value.code == "time_budget"
    assert time.monotonic() - started < 2.0  # answered with time to spare, not at the deadline


def test_packing_is_within_the_time_budget_and_sends_nothing_when_it_runs_out() -> None:
    """A fake remaining time that loses a second each time it is read: packing 4,000 alerts reads it often enough
    to run out, so the queue answers time_budget before its first batch (nothing half-queued)."""
    left = iter(range(10, -100, -1))
    sqs = FailingSqs()
    with pytest.raises(EnqueueFailed) as caught:
        AlertQueue(sqs, "url").enqueue([envelope(f"k{i}") for i in range(4000)], remaining_seconds=lambda: next(left))
    assert caught.value.code == "time_budget"
    assert sqs.calls == 0


def test_a_resent_notification_has_the_same_deduplication_ids() -> None:
    """The sender's retry after a 503 re-sends what was queued: SQS drops each copy by its deduplication id."""
    first = pack([envelope(f"k{i}", group=f"g{i % 3}") for i in range(30)])
    again = pack([envelope(f"k{i}", group=f"g{i % 3}") for i in range(30)])
    assert len(first) == 3
    assert [e["MessageDeduplicationId"] for e in first] == [e["MessageDeduplicationId"] for e in again]


def test_messages_sent_per_notification_are_the_packed_chunks() -> None:
    sqs = FailingSqs()
    queue = AlertQueue(sqs, "url")
    envelopes = [envelope(f"k{i}", group=f"g{i % 5}") for i in range(1000)]
    assert queue.enqueue(envelopes) == 1000
    assert queue.messages_sent == len(sqs.sent) == len(pack(envelopes)) == 5


def test_a_dead_lettered_packed_message_is_listed_by_its_first_alert_and_count() -> None:
    from alert_courier.operator_tools.operations import DeadLetter

    (entry,) = pack([envelope(f"k{i}") for i in range(3)])
    letter = DeadLetter("m-1", "r", entry["MessageBody"], entry["MessageGroupId"], "why", "2026-12-02", 1)
    summary = letter.summary()
    assert (summary["dedup_key"], summary["alerts"], summary["status"]) == ("k0", 3, "firing")
    old = DeadLetter("m-2", "r", fitted_body(envelope("solo")), "g", "why", "2026-12-02", 1).summary()
    assert (old["dedup_key"], old["alerts"]) == ("solo", 1)
