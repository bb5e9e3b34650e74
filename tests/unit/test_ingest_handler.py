"""The ingest handler end to end with an SQS double: 202 only when every alert is queued, else a counted 503."""

from __future__ import annotations

import json
import random
import string
import time
from typing import Any

import pytest

from alert_courier.aws.alert_queue import ANSWER_MARGIN_SECONDS, AlertQueue
from tests.conftest import load_event
from tests.ingest_harness import QUEUE_URL, RecordingSqs, answer_body, http_event, invoke, post


def storm(alerts: int) -> dict[str, Any]:
    notification = load_event("alertmanager/firing.json")
    template = notification["alerts"][0]
    notification["alerts"] = [
        {**template, "labels": {**template["labels"], "instance": f"i-{n}"}, "fingerprint": f"{n:016x}"}
        for n in range(alerts)
    ]
    return notification


def big_storm(alerts: int) -> dict[str, Any]:
    """A storm whose alerts carry incompressible annotations: about one SQS message per dozen alerts."""
    rng = random.Random(alerts)
    notification = storm(alerts)
    for alert in notification["alerts"]:
        texts = ["".join(rng.choices(string.ascii_letters, k=4000)) for _ in range(3)]
        alert["annotations"] = {**alert["annotations"], **dict(zip("abc", texts, strict=True))}
    return notification


@pytest.mark.parametrize(
    "fail", ["QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "ThrottlingException", "connection"]
)
def test_an_sqs_outage_is_503_with_retry_after(fail: str) -> None:
    answer, sqs = post("alertmanager", load_event("alertmanager/firing.json"), RecordingSqs(fail=fail))
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "5"
    assert answer_body(answer)["error"]["code"] == "temporarily_unavailable"
    assert sqs.queued == []


@pytest.mark.parametrize("fail", ["ThrottlingException", "entries", "connection"])
def test_one_failed_batch_of_many_is_503_never_202(fail: str) -> None:
    notification = big_storm(200)
    _, whole = post("alertmanager", notification)
    assert len(whole.queued) > 8  # the notification is more messages than the batches that go through
    answer, sqs = post("alertmanager", notification, RecordingSqs(fail=fail, fail_from=4))
    assert answer["statusCode"] == 503
    assert len(sqs.envelopes()) < 200


def test_the_retry_after_a_503_completes_the_notification_without_duplicates() -> None:
    """SQS' FIFO de-duplication drops a re-sent MessageDeduplicationId: the union is each alert once."""
    notification = big_storm(200)
    _, first = post("alertmanager", notification, RecordingSqs(fail="ThrottlingException", fail_from=4))
    answer, again = post("alertmanager", notification)
    assert answer["statusCode"] == 202
    ids = [entry["MessageDeduplicationId"] for entry in again.queued]
    assert len(set(ids)) == len(ids) > len(first.queued) > 0
    assert {entry["MessageDeduplicationId"] for entry in first.queued} <= set(ids)
    assert sorted(e.alert.dedup_key for e in again.envelopes()) == sorted(
        {e.alert.dedup_key for e in again.envelopes()}
    )
    assert len(again.envelopes()) == 200


def test_ingest_answers_503_before_its_own_timeout() -> None:
    started = time.monotonic()
    answer, sqs = invoke(
        http_event("alertmanager", json.dumps(big_storm(150)).encode()), RecordingSqs(fail="slow", delay=1.0), seconds=3
    )
    assert answer["statusCode"] == 503
    assert time.monotonic() - started < 3  # the function's (simulated) timeout
    assert sqs.calls < 40  # not every batch was sent


def test_a_single_hanging_call_does_not_outlast_the_budget() -> None:
    started = time.monotonic()
    answer, _ = invoke(
        http_event("alertmanager", json.dumps(storm(2)).encode()), RecordingSqs(fail="slow", delay=4), seconds=3
    )
    assert answer["statusCode"] == 503
    assert time.monotonic() - started < 3


class FakeClockContext:
    """A Lambda context on a fake clock: time passes only when the test's work says so, never by wall-clock."""

    aws_request_id = "fake-clock-request"
    function_name = "IngestFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:IngestFunction"

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout = timeout_seconds
        self.elapsed = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - self.elapsed) * 1000))


def parsing_costs(monkeypatch: pytest.MonkeyPatch, context: FakeClockContext, seconds_per_alert: float) -> None:
    """Each alert intake reads costs `seconds_per_alert` on the fake clock (the per-alert step every source takes)."""
    from alert_courier.ingress import intake

    real = intake.within_limits

    def costly(alert: Any) -> Any:
        context.elapsed += seconds_per_alert
        return real(alert)

    monkeypatch.setattr(intake, "within_limits", costly)


def invoke_on(context: FakeClockContext, notification: dict[str, Any]) -> tuple[Any, RecordingSqs]:
    from tests.ingest_harness import ingest_module

    module = ingest_module()
    sqs = RecordingSqs()
    module.queue = AlertQueue(sqs, QUEUE_URL)
    return module.lambda_handler(http_event("alertmanager", json.dumps(notification).encode()), context), sqs


def test_parsing_that_would_outlast_the_timeout_is_503_in_time_with_nothing_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parsing a notification of 2,000 alerts takes 20 s on the fake clock, twice ingest's 10 s timeout: the budget
    covers parsing, so the answer is a 503 with Retry-After while time is left, and no batch was sent."""
    context = FakeClockContext(timeout_seconds=10)
    parsing_costs(monkeypatch, context, seconds_per_alert=0.01)
    answer, sqs = invoke_on(context, storm(2000))
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "5"
    assert context.elapsed <= context.timeout - ANSWER_MARGIN_SECONDS
    assert sqs.calls == 0 and sqs.queued == []


def test_parsing_that_leaves_the_sends_too_little_time_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """8.5 s of 10 s spent parsing: under the answer margin plus the sends' reserve, so nothing is half-queued."""
    context = FakeClockContext(timeout_seconds=10)
    parsing_costs(monkeypatch, context, seconds_per_alert=8.5 / 1000)
    answer, sqs = invoke_on(context, storm(1000))
    assert answer["statusCode"] == 503
    assert sqs.calls == 0


def test_parsing_within_the_budget_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    context = FakeClockContext(timeout_seconds=10)
    parsing_costs(monkeypatch, context, seconds_per_alert=5.0 / 2000)
    answer, sqs = invoke_on(context, storm(2000))
    assert answer["statusCode"] == 202
    assert len(sqs.envelopes()) == 2000
