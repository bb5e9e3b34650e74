"""Packing alerts into SQS batches: limits respected, every alert exactly once, ordering per group."""

from __future__ import annotations

from datetime import UTC, datetime

from alert_courier.aws.alert_queue import MAX_BATCH_BYTES, batches, fitted_body, message_group_id, to_entry
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


def test_senders_without_a_start_time_are_told_apart_by_arrival() -> None:
    """trigger → resolve → trigger within SQS' 5-minute dedup window must not drop the second trigger."""
    first = Alert(
        source="generic", dedup_key="k", group_key="k", status=AlertStatus.FIRING, title="t", received_at=STARTED
    )
    later = first.model_copy(update={"received_at": datetime(2026, 11, 25, 3, 2, tzinfo=UTC)})
    assert first.transition_id() != later.transition_id()
    assert first.transition_id() == first.model_copy().transition_id()
