"""The local SQS event source keeps a FIFO message group in order across failed batches, as SQS does, on moto
(which on its own hands a group's returned messages out last one first): a trigger that failed is redelivered
before the resolves that were given back with it, and no later message of a group is handled while an earlier one
waits for its redelivery. The fault suite's missing pages came from exactly this (a resolve overtook the trigger
whose page had failed, so the episode ended with nobody paged)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alert_courier_local.event_source import SqsPoller
from alert_courier_local.lambda_runtime import LocalFunction
from alert_courier_local.template_model import LambdaFunction


@pytest.fixture(scope="module")
def moto_sqs() -> Iterator[Any]:
    from alert_courier_local.aws import start_moto

    with pytest.MonkeyPatch.context() as patch:  # start_moto points this process' AWS variables at it
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
            patch.setenv(name, "testing")
        for name in ("AWS_REGION", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        aws = start_moto("127.0.0.1", 0, isolated=True)
        try:
            yield aws.client("sqs")
        finally:
            aws.stop()


class FifoHandler:
    """A dispatch stand-in: fails the chosen deliveries and, as `SqsFifoPartialProcessor(skip_group_on_error=True)`
    does, the rest of that group's messages in the batch; records what it handled, in order."""

    def __init__(self, fails: Any) -> None:
        self.fails = fails  # (body, delivery number of that body) -> fail?
        self.handled: list[str] = []
        self.deliveries: dict[str, int] = {}
        self.holders: dict[str, str] = {}  # group -> the thread handling it now
        self.overlaps: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        groups = {record["attributes"]["MessageGroupId"] for record in event["Records"]}
        me = threading.current_thread().name
        with self._lock:
            self.overlaps += [group for group in groups if self.holders.setdefault(group, me) != me]
        time.sleep(0.02)
        failed_groups: set[str] = set()
        failures = []
        for record in event["Records"]:
            group, body = record["attributes"]["MessageGroupId"], record["body"]
            with self._lock:
                self.deliveries[body] = self.deliveries.get(body, 0) + 1
                fail = group in failed_groups or self.fails(body, self.deliveries[body])
                if not fail:
                    self.handled.append(body)
            if fail:
                failed_groups.add(group)
                failures.append({"itemIdentifier": record["messageId"]})
        with self._lock:
            for group in groups:
                if self.holders.get(group) == me:
                    del self.holders[group]
        return {"batchItemFailures": failures}


def fifo_queue(sqs: Any, messages: list[tuple[str, str]]) -> tuple[str, str]:
    name = f"q-{uuid.uuid4().hex[:8]}.fifo"
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", "VisibilityTimeout": "60"})["QueueUrl"]
    for group, body in messages:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def pollers(sqs: Any, url: str, arn: str, handler: FifoHandler, count: int) -> list[SqsPoller]:
    spec = LambdaFunction(logical_id="Dispatch", code_dir=Path("."), module="app", handler="h", timeout_seconds=60)
    function = LocalFunction(spec=spec, handler=handler, lock=threading.Lock())
    shared = threading.Lock()
    return [
        SqsPoller(
            sqs, url, arn, function, redelivery_seconds=1, log=lambda line: None, name=f"p{i}", receive_lock=shared
        )
        for i in range(count)
    ]


def wait_for(handler: FifoHandler, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(handler.handled) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_failed_trigger_is_redelivered_before_the_resolves_given_back_with_it(moto_sqs: Any) -> None:
    bodies = ["trigger", "resolve-1", "resolve-2"]
    url, arn = fifo_queue(moto_sqs, [("job", body) for body in bodies])
    handler = FifoHandler(lambda body, delivery: body == "trigger" and delivery == 1)
    first, second = pollers(moto_sqs, url, arn, handler, 2)
    assert first.poll_once(wait_seconds=0) == 3  # one batch; the trigger fails and takes its group back with it
    deadline = time.monotonic() + 15
    while len(handler.handled) < 3 and time.monotonic() < deadline:
        second.poll_once(wait_seconds=0)
        first.poll_once(wait_seconds=0)
        time.sleep(0.1)
    assert handler.handled == bodies


def test_two_pollers_keep_every_group_in_order_and_never_hold_one_group_at_once(moto_sqs: Any) -> None:
    messages = [(f"g{group}", f"g{group}-{n}") for n in range(4) for group in range(6)]
    url, arn = fifo_queue(moto_sqs, messages)
    handler = FifoHandler(lambda body, delivery: delivery == 1 and body.endswith(("-0", "-2")))
    running = [poller.start() for poller in pollers(moto_sqs, url, arn, handler, 2)]
    try:
        wait_for(handler, len(messages))
    finally:
        for poller in running:
            poller.stop()
    for group in range(6):
        assert [body for body in handler.handled if body.startswith(f"g{group}-")] == [
            f"g{group}-{n}" for n in range(4)
        ]
    assert handler.overlaps == []
