"""Packing alerts into SQS batches: limits respected, every alert exactly once, ordering per group."""

from __future__ import annotations

from alert_courier.alert import Alert, AlertEnvelope, AlertStatus
from alert_courier.alert_queue import MAX_BATCH_BYTES, batches, fitted_body, message_group_id, to_entry


def envelope(key: str, group: str = "g", description: str = "") -> AlertEnvelope:
    alert = Alert(
        source="alertmanager",
        dedup_key=key,
        group_key=group,
        status=AlertStatus.FIRING,
        title=key,
        description=description,
    )
    return AlertEnvelope(alert=alert, correlation_id="c")


def test_thousands_of_alerts_split_within_sqs_limits() -> None:
    entries = [to_entry(i, envelope(f"k{i}", description="x" * 3000)) for i in range(2500)]
    packed = list(batches(entries))
    assert all(len(batch) <= 10 for batch in packed)
    assert all(sum(len(e["MessageBody"].encode()) for e in batch) <= MAX_BATCH_BYTES for batch in packed)
    assert sorted(e["Id"] for batch in packed for e in batch) == sorted(e["Id"] for e in entries)


def test_same_group_same_message_group_and_redelivery_same_dedup_id() -> None:
    a, b = envelope("a"), envelope("b")
    assert message_group_id(a) == message_group_id(b) != message_group_id(envelope("a", group="other"))
    assert to_entry(0, a)["MessageDeduplicationId"] == to_entry(5, envelope("a"))["MessageDeduplicationId"]


def test_a_huge_alert_is_clipped_not_dropped() -> None:
    body = fitted_body(envelope("big", description="y" * (MAX_BATCH_BYTES * 2)))
    assert len(body.encode()) <= MAX_BATCH_BYTES
    assert AlertEnvelope.model_validate_json(body).alert.dedup_key == "big"
