"""Puts accepted alerts on the SQS FIFO queue: one message per alert, ordered per alert group.

All or nothing, as far as the sender can tell: any batch that is not queued (SQS refused it, AWS is unreachable
or throttling, the time budget ran out) raises EnqueueFailed, which ingest answers with 503 + Retry-After. Batches
already queued are not taken back; the retry re-sends them with the same MessageDeduplicationId (the alert's
transition id), so SQS drops the copies within its 5-minute window and the group state drops them after.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from alert_courier.domain.alert import Alert, AlertEnvelope

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024  # SQS' classic limit; moto and older regions still enforce it
MAX_MESSAGE_BYTES = MAX_BATCH_BYTES
SEND_ATTEMPTS = 3
SEND_THREADS = 8
ANSWER_MARGIN_SECONDS = 1.5
"""Stop sending this long before ingest's own timeout, so the sender hears a 503 instead of a gateway error."""

Remaining = Callable[[], float] | None

# What SQS accepts in a message body (#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF).
_REFUSED_BY_SQS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Second-pass limits, used only when a body is still too big after intake's limits (text that JSON escapes to six
# bytes a character): guarantee that every alert fits in one message.
_FALLBACK_TEXT_CHARS = 256
_FALLBACK_DESCRIPTION_CHARS = 1024
_FALLBACK_LABELS = 32


def sqs_safe(json_text: str) -> str:
    """The same JSON value, with every character SQS refuses written as a \\u escape (JSON reads it back as is).

    Only string contents can hold such characters (JSON's structure is ASCII), so escaping them in place is exact.
    """
    return _REFUSED_BY_SQS.sub(lambda found: f"\\u{ord(found.group()):04x}", json_text)


def _body(envelope: AlertEnvelope) -> str:
    return sqs_safe(envelope.model_dump_json())


def _fits(body: str) -> bool:
    return len(body) <= MAX_MESSAGE_BYTES // 4 or len(body.encode("utf-8")) <= MAX_MESSAGE_BYTES


def fitted_body(envelope: AlertEnvelope) -> str:
    """The message body; a body still over SQS' limit is reduced in steps, each noted on the alert, until it fits."""
    body = _body(envelope)
    if _fits(body):
        return body
    alert = envelope.alert
    for step in (_shorter_text, _without_annotations, _fewest_labels):
        alert = step(alert)
        body = _body(envelope.model_copy(update={"alert": alert}))
        if _fits(body):
            return body
    raise AssertionError("an alert reduced to its fallback limits always fits one SQS message")  # pragma: no cover


def _noted(alert: Alert, note: str, **update: Any) -> Alert:
    notes = [*alert.raw.get("intake_notes", []), note]
    raw = {"severity_word": str(alert.raw.get("severity_word", ""))[:64], "intake_notes": notes, "clipped": True}
    return alert.model_copy(update={**update, "raw": raw})


def _shorter_text(alert: Alert) -> Alert:
    return _noted(
        alert,
        f"message over {MAX_MESSAGE_BYTES} bytes: description clipped to {_FALLBACK_DESCRIPTION_CHARS} characters, "
        f"annotation and label values to {_FALLBACK_TEXT_CHARS}, links and source details dropped",
        description=alert.description[:_FALLBACK_DESCRIPTION_CHARS],
        annotations={key[:128]: value[:_FALLBACK_TEXT_CHARS] for key, value in alert.annotations.items()},
        labels={key[:128]: value[:_FALLBACK_TEXT_CHARS] for key, value in alert.labels.items()},
        links={},
    )


def _without_annotations(alert: Alert) -> Alert:
    return _noted(alert, f"message over {MAX_MESSAGE_BYTES} bytes: annotations dropped", annotations={})


def _fewest_labels(alert: Alert) -> Alert:
    kept = dict(list(alert.labels.items())[:_FALLBACK_LABELS])
    note = f"message over {MAX_MESSAGE_BYTES} bytes: labels after the first {_FALLBACK_LABELS} dropped"
    return _noted(alert, note, labels=kept, description=alert.description[:_FALLBACK_TEXT_CHARS])


class EnqueueFailed(Exception):
    """Some alerts could not be enqueued; the sender must retry (we answer 503)."""

    def __init__(self, reason: str, *, code: str = "sqs_refused") -> None:
        super().__init__(reason)
        self.code = code
        """For the metric: sqs_refused, aws_error or time_budget."""


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

    def enqueue(self, envelopes: Sequence[AlertEnvelope], remaining_seconds: Remaining = None) -> int:
        """Enqueue every envelope or raise EnqueueFailed; partial batch failures are retried.

        Batches go out in parallel: a storm notification of 10,000 alerts is 1,000 SendMessageBatch calls,
        too many to make one after another inside ingest's timeout. Order between batches does not matter:
        one notification never carries the same alert twice, and the next one is sent after we answer.
        `remaining_seconds` (ingest's time left) bounds the wait: EnqueueFailed before the function times out.
        After the first failure no further batch is started.
        """
        entries = [to_entry(index, envelope) for index, envelope in enumerate(envelopes)]
        packed = list(batches(entries))
        if len(packed) == 1 and remaining_seconds is None:
            self._send_batch(packed[0])
        elif packed:  # in threads even for one batch: a call that hangs must not outlast the time budget
            self._send_in_parallel(packed, remaining_seconds)
        return len(entries)

    def _send_in_parallel(self, packed: list[list[dict[str, Any]]], remaining_seconds: Remaining) -> None:
        pool = ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(packed)))
        futures: list[Future[None]] = [pool.submit(self._send_batch, batch, remaining_seconds) for batch in packed]
        try:
            budget = None if remaining_seconds is None else max(0.0, remaining_seconds() - ANSWER_MARGIN_SECONDS)
            done, pending = wait(futures, timeout=budget, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # re-raises the first EnqueueFailed
            if pending:
                raise EnqueueFailed(f"{len(pending)} batch(es) not sent within the time budget", code="time_budget")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a batch in flight may still land: its retry dedupes

    def _send_batch(self, batch: list[dict[str, Any]], remaining_seconds: Remaining = None) -> None:
        pending = batch
        for _ in range(SEND_ATTEMPTS):
            if remaining_seconds is not None and remaining_seconds() < ANSWER_MARGIN_SECONDS:
                raise EnqueueFailed(f"{len(pending)} alert(s) not sent: out of time", code="time_budget")
            try:
                response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=pending)
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", "ClientError"))
                raise EnqueueFailed(f"SQS refused the batch: {code}", code="aws_error") from None
            except BotoCoreError as error:
                raise EnqueueFailed(f"SQS unreachable: {type(error).__name__}", code="aws_error") from None
            failed_ids = {failure["Id"] for failure in response.get("Failed", [])}
            if not failed_ids:
                return
            pending = [entry for entry in pending if entry["Id"] in failed_ids]
        raise EnqueueFailed(f"{len(pending)} alert(s) could not be enqueued")
