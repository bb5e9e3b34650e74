"""Stands in for the Lambda SQS event source mapping: polls, invokes with a batch, honours partial failures.

On a FIFO queue it keeps SQS' order within a message group, which moto does not on its own: messages of one group
given back with a visibility timeout come out last one first once they are visible again (the group is held until
its last returned message is looked at, and that one is handed out), and a receive can hand out a group's later
message while another receive holds the group. So the pollers of one queue receive one at a time, and a failed
batch's messages stay in flight for the redelivery delay and are then given back together with visibility 0 (moto
frees them at once, so the next receive finds the group whole and in order), as SQS' visibility timeout would."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from .lambda_runtime import LocalFunction


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    records = []
    for message in messages:
        attributes = dict(message.get("Attributes") or {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": attributes,
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType", "String"),
                    }
                    for name, value in (message.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


class SqsPoller:
    """One poller is one concurrent 'container'; several pollers give concurrent dispatch workers."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        function: LocalFunction,
        *,
        batch_size: int = 10,
        redelivery_seconds: int = 2,
        log: Callable[[str], None] = print,
        name: str = "poller",
        receive_lock: threading.Lock | None = None,
    ) -> None:
        """`receive_lock`: shared by every poller of the queue (their receives must not overlap, see above)."""
        self._sqs = sqs
        self._url = queue_url
        self._arn = queue_arn
        self._function = function
        self._batch_size = batch_size
        self._redelivery = redelivery_seconds
        self._log = log
        self._receive_lock = receive_lock or threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.busy = threading.Lock()  # held while a batch is received and handled (a reset waits for it)
        self.batches = 0

    def start(self) -> SqsPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def poll_once(self, wait_seconds: int = 1) -> int:
        with self._receive_lock:
            response = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=self._batch_size,
                WaitTimeSeconds=wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        messages = response.get("Messages") or []
        if not messages:
            return 0
        self.batches += 1
        failed: set[str] = set()
        try:
            result = self._function.invoke(sqs_event(messages, self._arn))
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except Exception as error:
            self._log(f"dispatch    batch of {len(messages)} failed: {type(error).__name__}: {error}")
            failed = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] not in failed:
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
        returned = [message["ReceiptHandle"] for message in messages if message["MessageId"] in failed]
        if returned:
            # AWS waits for the visibility timeout; locally we make redelivery quick.
            release = threading.Timer(self._redelivery, self._give_back, [returned])
            release.daemon = True
            release.start()
        return len(messages)

    def _give_back(self, receipt_handles: list[str]) -> None:
        """Makes failed messages visible again, all at once (a purge since then leaves nothing to give back)."""
        entries = [
            {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for index, handle in enumerate(receipt_handles)
        ]
        try:  # one receive's messages: at most 10, SQS' batch limit
            self._sqs.change_message_visibility_batch(QueueUrl=self._url, Entries=entries)
        except Exception as error:
            self._log(f"poller      error giving messages back: {type(error).__name__}: {error}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.busy:
                    self.poll_once()
            except Exception as error:
                self._log(f"poller      error: {type(error).__name__}: {error}")
                time.sleep(1)
