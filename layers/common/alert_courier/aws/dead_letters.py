"""Sends a message that can never succeed straight to the dead-letter queue, with the reason attached."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

FAILURE_REASON_ATTRIBUTE = "failure_reason"


class DeadLetters:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, body: str, *, group_id: str, source_message_id: str, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._url,
            MessageBody=body,
            MessageGroupId=group_id or "dead-letters",
            MessageDeduplicationId=hashlib.sha256(f"{source_message_id}\x1f{body}".encode()).hexdigest(),
            MessageAttributes={
                FAILURE_REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
                "failed_at": {"DataType": "String", "StringValue": datetime.now(UTC).isoformat()},
                "source_message_id": {"DataType": "String", "StringValue": source_message_id or "unknown"},
            },
        )
