"""The ingest handler end to end with an SQS double: 202 only when every alert is queued, else a counted 503."""

from __future__ import annotations

import json
import random
import string
import time
from typing import Any

import pytest

from tests.conftest import load_event
from tests.ingest_harness import RecordingSqs, answer_body, http_event, invoke, post


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
