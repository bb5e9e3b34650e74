"""Puts accepted alerts on the SQS FIFO queue, packed: one notification's alerts of one group go out in as few
messages as fit (`pack`), and dispatch reads them back with `read_message` (which also reads the one-alert
messages of earlier versions, still in flight during a deploy).

A packed message is `{"batch": 1, "correlation_id", "truncated_alerts", "alerts": [...]}`; one whose JSON is over
`COMPRESS_OVER_BYTES` is sent as `{"batch": 1, "zlib": "<base64 of the zlib-compressed JSON>"}`. No message is
over `MAX_PACKED_BYTES` (well under SQS' 256 KiB). Its MessageDeduplicationId is a hash of its alerts' transition
ids, so a re-sent notification packs into the same ids and SQS drops the copies.

All or nothing, as far as the sender can tell: any batch that is not queued (SQS refused it, AWS is unreachable
or throttling, the time budget ran out) raises EnqueueFailed, which ingest answers with 503 + Retry-After. Batches
already queued are not taken back; the retry re-sends them with the same MessageDeduplicationId (a hash of the
message's transition ids), so SQS drops the copies within its 5-minute window and the group state drops them after.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
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
SEND_RESERVE_SECONDS = 1.0
"""What parsing and packing leave the sends on top of the answer margin: a notification whose reading ends with
less left is answered 503 before its first batch, rather than half-queued by a budget that runs out mid-send."""
PACK_CHECK_EVERY = 256

Remaining = Callable[[], float] | None
Checkpoint = Callable[[], None]


def _no_checkpoint() -> None:
    return None


def time_budget(remaining_seconds: Remaining) -> Checkpoint:
    """The checkpoint of the work before the sends (reading the request, packing): raises EnqueueFailed
    ("time_budget"; ingest answers 503 + Retry-After) once less than the answer margin plus the sends' reserve is
    left. Nothing has been queued when it raises."""
    if remaining_seconds is None:
        return _no_checkpoint
    floor = ANSWER_MARGIN_SECONDS + SEND_RESERVE_SECONDS

    def checkpoint() -> None:
        left = remaining_seconds()
        if left < floor:
            raise EnqueueFailed(f"not read and packed within the time budget ({left:.1f} s left)", code="time_budget")

    return checkpoint


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


MAX_PACKED_BYTES = 192 * 1024
COMPRESS_OVER_BYTES = 16 * 1024
_FIRST_RAW_CHUNK_BYTES = 4 * MAX_PACKED_BYTES
"""How much JSON the first message of a group tries; the next ones try as much as the compression seen so far
says fits (with a margin). A body still too big is split in halves until each part fits."""
_FILL = 0.9


def _alert_json(envelope: AlertEnvelope) -> str:
    """The alert's JSON as it goes into a packed message, reduced like a one-alert body when over SQS' limit."""
    body = sqs_safe(envelope.alert.model_dump_json())
    if _fits(body):
        return body
    fitted = json.loads(fitted_body(envelope))
    return sqs_safe(json.dumps(fitted["alert"], ensure_ascii=False, separators=(",", ":")))


def _packed_body(alerts: Sequence[str], correlation_id: str, truncated_alerts: int) -> str:
    header = json.dumps({"batch": 1, "correlation_id": correlation_id, "truncated_alerts": truncated_alerts})
    return f'{header[:-1]}, "alerts": [{",".join(alerts)}]}}'


def _encoded(plain: str) -> str:
    if len(plain.encode("utf-8")) <= COMPRESS_OVER_BYTES:
        return plain
    raw = plain.encode("utf-8")
    data = base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
    compressed = json.dumps({"batch": 1, "zlib": data})
    return compressed if len(compressed) < len(raw) else plain  # text that does not compress goes as it is


def _chunks(
    alerts: Sequence[str], ids: Sequence[str], correlation_id: str, truncated: int
) -> Iterator[tuple[str, list[str]]]:
    """(body, transition ids) of each message, in order. Deterministic: the same alerts pack the same way."""
    start, budget = 0, float(_FIRST_RAW_CHUNK_BYTES)
    while start < len(alerts):
        end, size = start, 0
        while end < len(alerts) and (end == start or size + len(alerts[end]) <= budget):
            size += len(alerts[end])
            end += 1
        sent = 0
        for body, chunk_ids in _fitting(alerts, ids, start, end, correlation_id, truncated):
            sent += len(body)
            yield body, chunk_ids
        ratio = max(sent / max(size, 1), 1 / 64)  # compressed bytes per raw byte, as seen
        budget = max(_FILL * MAX_PACKED_BYTES / ratio, float(MAX_PACKED_BYTES) / 2)
        start = end


def _fitting(
    alerts: Sequence[str], ids: Sequence[str], start: int, end: int, correlation_id: str, truncated: int
) -> Iterator[tuple[str, list[str]]]:
    body = _encoded(_packed_body(alerts[start:end], correlation_id, truncated))
    if len(body.encode("utf-8")) <= MAX_PACKED_BYTES or end - start == 1:
        yield body, list(ids[start:end])
        return
    middle = (start + end) // 2
    yield from _fitting(alerts, ids, start, middle, correlation_id, truncated)
    yield from _fitting(alerts, ids, middle, end, correlation_id, truncated)


def pack(envelopes: Sequence[AlertEnvelope], checkpoint: Checkpoint = _no_checkpoint) -> list[dict[str, Any]]:
    """SendMessageBatch entries (without "Id") for `envelopes`: per message group, in the order given, as few
    messages as fit. The envelopes of one request share its correlation id; a group's first envelope gives it.
    `checkpoint` (the time budget) is called every `PACK_CHECK_EVERY` alerts and after each message."""
    groups: dict[str, list[AlertEnvelope]] = {}
    for envelope in envelopes:
        groups.setdefault(message_group_id(envelope), []).append(envelope)
    entries: list[dict[str, Any]] = []
    for group, members in groups.items():
        alerts = []
        for envelope in members:
            alerts.append(_alert_json(envelope))
            if len(alerts) % PACK_CHECK_EVERY == 0:
                checkpoint()
        ids = [envelope.alert.transition_id() for envelope in members]
        first = members[0]
        for body, chunk_ids in _chunks(alerts, ids, first.correlation_id, first.truncated_alerts):
            checkpoint()
            entries.append(
                {
                    "MessageBody": body,
                    "MessageGroupId": group,
                    "MessageDeduplicationId": hashlib.sha256("\x1f".join(chunk_ids).encode()).hexdigest(),
                }
            )
    return entries


class UnreadableMessage(ValueError):
    """A queued body that is neither a packed message nor a one-alert message."""


def read_message(body: str) -> list[AlertEnvelope]:
    """The alerts of one queued message, in order: a packed message (plain or compressed) or an older one-alert
    message. Raises `UnreadableMessage` (dispatch dead-letters it)."""
    from pydantic import ValidationError

    try:
        document = json.loads(body)
        if isinstance(document, dict) and "zlib" in document:
            document = json.loads(zlib.decompress(base64.b64decode(str(document["zlib"]), validate=True)))
        if isinstance(document, dict) and "batch" in document:
            correlation_id = str(document["correlation_id"])
            truncated = int(document.get("truncated_alerts", 0))
            return [
                AlertEnvelope.model_validate(
                    {"alert": alert, "correlation_id": correlation_id, "truncated_alerts": truncated}
                )
                for alert in document["alerts"]
            ]
        return [AlertEnvelope.model_validate(document)]
    except ValidationError as error:
        raise UnreadableMessage(str(error.errors()[0]["msg"])) from None
    except (ValueError, TypeError, KeyError, zlib.error) as error:
        raise UnreadableMessage(f"{type(error).__name__}: {error}") from None


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
        self.messages_sent = 0
        """Messages queued by this instance (the benches and tests read it)."""

    def enqueue(self, envelopes: Sequence[AlertEnvelope], remaining_seconds: Remaining = None) -> int:
        """Enqueue every envelope or raise EnqueueFailed; partial batch failures are retried.

        The envelopes are packed (`pack`): a storm notification of 10,000 alerts of one group is a handful of
        messages. Batches go out in parallel (a notification of many groups is still many messages).
        Returns the number of alerts queued (`messages_sent` counts the messages).
        Order between batches does not matter: one notification never carries the same alert twice, and the
        next one is sent after we answer. `remaining_seconds` (ingest's time left) bounds the packing (see
        `time_budget`: nothing is sent then) and the wait: EnqueueFailed before the function times out. After the
        first failure no further batch is started.
        """
        packed_entries = pack(envelopes, time_budget(remaining_seconds))
        entries = [{"Id": str(index), **entry} for index, entry in enumerate(packed_entries)]
        packed = list(batches(entries))
        if len(packed) == 1 and remaining_seconds is None:
            self._send_batch(packed[0])
        elif packed:  # in threads even for one batch: a call that hangs must not outlast the time budget
            self._send_in_parallel(packed, remaining_seconds)
        self.messages_sent += len(entries)
        return len(envelopes)

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
