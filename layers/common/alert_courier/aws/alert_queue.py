"""Puts accepted alerts on the SQS FIFO queue: one message per alert, ordered per alert group."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from alert_courier.domain.alert import AlertEnvelope

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024  # SQS' classic limit; moto and older regions still enforce it
SEND_ATTEMPTS = 3
SEND_THREADS = 8


CLIPPED_TEXT_CHARS = 2048


def fitted_body(envelope: AlertEnvelope) -> str:
    """The message body, with oversized free text clipped so one huge alert is still delivered, not lost."""
    body = envelope.model_dump_json()
    if len(body.encode("utf-8")) <= MAX_BATCH_BYTES:
        return body
    alert = envelope.alert
    clipped = alert.model_copy(
        update={
            "description": alert.description[:CLIPPED_TEXT_CHARS],
            "annotations": {key[:256]: value[:CLIPPED_TEXT_CHARS] for key, value in alert.annotations.items()},
            "labels": {key[:256]: value[:CLIPPED_TEXT_CHARS] for key, value in alert.labels.items()},
            "raw": {"clipped": True},
        }
    )
    return envelope.model_copy(update={"alert": clipped}).model_dump_json()


class EnqueueFailed(Exception):
    """Some alerts could not be enqueued; the sender must retry (we answer 503)."""


def message_group_id(envelope: AlertEnvelope) -> str:
    """All alerts of one group are processed in order, one at a time (FIFO message group)."""
    alert = envelope.alert
    return hashlib.sha256(f"{alert.source}\x1f{alert.group_key}".encode()).hexdigest()


def to_entry(index: int, envelope: AlertEnvelope) -> dict[str, Any]:
    return {
        "Id": str(index),
        "MessageBody": fitted_body(envelope),
        "MessageGroupId": message_group_id(envelope),
        "MessageDeduplicationId": envelope.alert.transition_id(),
    }


def batches(entries: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry["MessageBody"].encode("utf-8"))
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + entry_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry_size
    if batch:
        yield batch


class AlertQueue:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def enqueue(self, envelopes: Sequence[AlertEnvelope]) -> int:
        """Enqueue every envelope or raise EnqueueFailed; partial batch failures are retried.

        Batches go out in parallel: a storm notification of 10,000 alerts is 1,000 SendMessageBatch calls,
        too many to make one after another inside ingest's timeout. Order between batches does not matter:
        one notification never carries the same alert twice, and the next one is sent after we answer.
        """
        entries = [to_entry(index, envelope) for index, envelope in enumerate(envelopes)]
        packed = list(batches(entries))
        if len(packed) <= 1:
            for batch in packed:
                self._send_batch(batch)
            return len(entries)
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(packed))) as pool:
            for future in [pool.submit(self._send_batch, batch) for batch in packed]:
                future.result()  # re-raises EnqueueFailed (or a client error): the sender retries everything
        return len(entries)

    def _send_batch(self, batch: list[dict[str, Any]]) -> None:
        pending = batch
        for _ in range(SEND_ATTEMPTS):
            response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=pending)
            failed_ids = {failure["Id"] for failure in response.get("Failed", [])}
            if not failed_ids:
                return
            pending = [entry for entry in pending if entry["Id"] in failed_ids]
        raise EnqueueFailed(f"{len(pending)} alert(s) could not be enqueued")
