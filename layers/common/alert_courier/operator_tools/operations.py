"""Operator actions on a deployment: read and replay the dead-letter queue, read an alert's decision history."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alert_courier.aws.dead_letters import FAILURE_REASON_ATTRIBUTE

RECEIVE_ROUNDS = 200
HOLD_SECONDS = 30


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    group_id: str
    reason: str
    failed_at: str
    receive_count: int

    def summary(self) -> dict[str, Any]:
        from alert_courier.aws.alert_queue import UnreadableMessage, read_message

        try:  # a packed message (several alerts of one group) is shown by its first alert and its count
            envelopes = read_message(self.body)
            alert, alerts = (envelopes[0].alert.model_dump(mode="json") if envelopes else {}), len(envelopes)
        except UnreadableMessage:
            alert, alerts = {}, 0
        return {
            "message_id": self.message_id,
            "alerts": alerts,
            "source": alert.get("source"),
            "dedup_key": alert.get("dedup_key"),
            "status": alert.get("status"),
            "title": alert.get("title"),
            "reason": self.reason,
            "failed_at": self.failed_at,
        }


def _reason(message: dict[str, Any]) -> tuple[str, str]:
    attributes = message.get("MessageAttributes") or {}
    if FAILURE_REASON_ATTRIBUTE in attributes:
        failed_at = (attributes.get("failed_at") or {}).get("StringValue", "")
        return attributes[FAILURE_REASON_ATTRIBUTE]["StringValue"], failed_at
    receives = (message.get("Attributes") or {}).get("ApproximateReceiveCount", "?")
    return (
        f"redriven by SQS after repeated transient failures (receive count {receives}); "
        "see `alert-courier history` for the last error",
        "",
    )


class DeadLetterQueue:
    def __init__(self, sqs: Any, dlq_url: str, queue_url: str) -> None:
        self._sqs = sqs
        self._dlq = dlq_url
        self._queue = queue_url

    def peek(self, *, release: bool = True) -> list[DeadLetter]:
        """Reads every message in the DLQ.

        A FIFO queue hands out one message group at a time and holds back a group while any of its messages
        is in flight, so each message is held briefly to reach the next groups; with `release` they are all
        made visible again at the end.
        """
        seen: dict[str, DeadLetter] = {}
        for _ in range(RECEIVE_ROUNDS):
            response = self._sqs.receive_message(
                QueueUrl=self._dlq,
                MaxNumberOfMessages=10,
                VisibilityTimeout=HOLD_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            messages = response.get("Messages") or []
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                reason, failed_at = _reason(message)
                seen[message["MessageId"]] = DeadLetter(
                    message_id=message["MessageId"],
                    receipt_handle=message["ReceiptHandle"],
                    body=message["Body"],
                    group_id=(message.get("Attributes") or {}).get("MessageGroupId", "replay"),
                    reason=reason,
                    failed_at=failed_at,
                    receive_count=int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 0)),
                )
        if release:
            self._release(list(seen.values()))
        return list(seen.values())

    def _release(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            self._sqs.change_message_visibility(
                QueueUrl=self._dlq, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0
            )

    def replay(self, message_ids: Iterable[str] | None) -> list[str]:
        """Sends the chosen messages (all when None) back to the alert queue, then removes them from the DLQ.

        Replaying is safe: actions already performed are remembered in the state table and not repeated.
        """
        wanted = set(message_ids) if message_ids is not None else None
        replayed = []
        letters = self.peek(release=False)
        self._release([letter for letter in letters if wanted is not None and letter.message_id not in wanted])
        for letter in letters:
            if wanted is not None and letter.message_id not in wanted:
                continue
            self._sqs.send_message(
                QueueUrl=self._queue,
                MessageBody=letter.body,
                MessageGroupId=letter.group_id,
                MessageDeduplicationId=hashlib.sha256(f"replay\x1f{letter.message_id}".encode()).hexdigest(),
            )
            self._sqs.delete_message(QueueUrl=self._dlq, ReceiptHandle=letter.receipt_handle)
            replayed.append(letter.message_id)
        return replayed
