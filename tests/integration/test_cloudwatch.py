"""CloudWatch alarms through the real ingest handler and the whole local stack (moto SQS/Secrets Manager, dispatch,
the incident.io simulator): SNS Lambda events, EventBridge events, and SNS HTTPS deliveries via the front door.

SNS HTTPS messages are signed by a key generated in the test; the handler's certificate fetcher and confirmation
GET are swapped for fakes (`cloudwatch.SNS_HTTPS`), so nothing leaves the machine.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from alert_courier.ingress.sns_signature import CertificateStore
from alert_courier.sources import cloudwatch
from tests.conftest import load_event, wait_until
from tests.unit.test_cloudwatch_sns import TOPIC, SnsSigner

BASE_NAME = "checkout-api-5xx-high"
BASE_ARN = f"arn:aws:cloudwatch:eu-west-1:111122223333:alarm:{BASE_NAME}"
OTHER_TOPIC = "arn:aws:sns:eu-west-1:999999999999:not-ours"


@dataclass
class SnsFakes:
    signer: SnsSigner
    confirmed: list[str]


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner()


@pytest.fixture
def sns(signer: SnsSigner, monkeypatch: pytest.MonkeyPatch) -> Iterator[SnsFakes]:
    """The ingest handler (same process) trusts TOPIC, fetches the test certificate and records confirmations."""
    confirmed: list[str] = []
    trust = cloudwatch.SnsHttpsTrust(
        allowed_topics=lambda: {TOPIC}, certificates=CertificateStore(signer.fetch), confirm=confirmed.append
    )
    monkeypatch.setattr(cloudwatch, "SNS_HTTPS", trust)
    yield SnsFakes(signer, confirmed)


def unique_alarm(sample: str = "cloudwatch/alarm-message.json", tag: str | None = None) -> dict[str, Any]:
    """An alarm message with its own name and ARN, so tests sharing the stack never share an incident."""
    message = load_event(sample)
    name = f"{BASE_NAME}-{tag or uuid.uuid4().hex[:8]}"
    message.update({"AlarmName": name, "AlarmArn": BASE_ARN.replace(BASE_NAME, name)})
    return message


def sns_lambda_event(message: dict[str, Any]) -> dict[str, Any]:
    event = load_event("cloudwatch/sns-lambda-event.json")
    record = event["Records"][0]["Sns"]
    record.update({"Message": json.dumps(message), "MessageId": str(uuid.uuid4())})
    return event


def eventbridge_event(message: dict[str, Any], sample: str = "cloudwatch/eventbridge-alarm-event.json") -> Any:
    event = load_event(sample)
    event.update({"id": str(uuid.uuid4()), "resources": [message["AlarmArn"]]})
    event["detail"]["alarmName"] = message["AlarmName"]
    return event


def sns_https(
    signer: SnsSigner, message: dict[str, Any], sample: str = "cloudwatch/sns-https-notification.json"
) -> Any:
    return signer.signed(sample, at=datetime.now(UTC), message=message, MessageId=str(uuid.uuid4()))


def post_sns(stack: Any, document: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    sns_headers = {
        "content-type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": document["Type"],
        "x-amz-sns-message-id": document["MessageId"],
        "x-amz-sns-topic-arn": document["TopicArn"],
        "user-agent": "Amazon Simple Notification Service Agent",
    }
    return httpx.post(
        f"{stack.front_door_url}/webhooks/cloudwatch",
        content=json.dumps(document).encode(),
        headers={**sns_headers, **(headers or {})},
        timeout=30,
    )


def ingest(stack: Any, event: dict[str, Any]) -> Any:
    return stack.functions["IngestFunction"].invoke(event)


def sim(stack: Any, what: str) -> Any:
    return httpx.get(f"{stack.simulator_url}/_sim/{what}", timeout=10).json()


def queue_depth(stack: Any) -> int:
    attributes = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.aws.refs["AlertQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def incidents_for(stack: Any, alarm_arn: str) -> list[dict[str, Any]]:
    """Every incident alert-courier opens carries its idempotency key in the summary: find the alarm's by it."""
    from alert_courier.domain.actions import OpenIncident
    from alert_courier.domain.alert import Severity
    from alert_courier.domain.group_state import state_id_for

    marker = OpenIncident(
        group_id=state_id_for("cloudwatch", alarm_arn),
        generation=1,
        name="",
        summary="",
        severity=Severity.CRITICAL,
        reason="",
    ).idempotency_key
    return [i for i in sim(stack, "state")["incidents"] if marker in json.dumps(i["arguments"])]


def opened(stack: Any, alarm_arn: str) -> dict[str, Any]:
    [incident] = wait_until(lambda: incidents_for(stack, alarm_arn), what=f"an incident for {alarm_arn}")
    return incident


def closed(stack: Any, alarm_arn: str) -> dict[str, Any]:
    [incident] = wait_until(
        lambda: [i for i in incidents_for(stack, alarm_arn) if i["status_category"] == "closed"],
        what=f"the incident for {alarm_arn} to close",
    )
    return incident


def drained(stack: Any) -> None:
    wait_until(lambda: queue_depth(stack) == 0, what="the queue to drain")


# --- SNS -> Lambda, EventBridge -> Lambda --------------------------------------------------------------------------


def test_sns_lambda_event_is_enqueued_and_opens_an_incident(local_stack: Any) -> None:
    alarm = unique_alarm()
    answer = ingest(local_stack, sns_lambda_event(alarm))
    assert answer == {"status": "accepted", "kind": "sns", "accepted": 1, "ignored": 0}
    incident = opened(local_stack, alarm["AlarmArn"])
    assert incident["severity"] == "Critical" and incident["status_category"] == "triage"
    assert alarm["AlarmName"] in json.dumps(incident["arguments"])
    drained(local_stack)


def test_eventbridge_event_is_enqueued_and_opens_an_incident(local_stack: Any) -> None:
    alarm = unique_alarm()
    answer = ingest(local_stack, eventbridge_event(alarm))
    assert answer == {"status": "accepted", "kind": "eventbridge", "accepted": 1, "ignored": 0}
    assert opened(local_stack, alarm["AlarmArn"])["severity"] == "Critical"
    drained(local_stack)


def test_an_unreadable_sns_record_is_skipped_not_retried(local_stack: Any) -> None:
    event = sns_lambda_event(unique_alarm())
    event["Records"][0]["Sns"]["Message"] = "a test publish from the console"
    assert ingest(local_stack, event) == {"status": "accepted", "kind": "sns", "accepted": 0, "ignored": 1}


# --- SNS -> HTTPS (another account) via the front door --------------------------------------------------------


def test_signed_sns_https_notification_is_accepted_and_opens_an_incident(local_stack: Any, sns: SnsFakes) -> None:
    alarm = unique_alarm()
    answer = post_sns(local_stack, sns_https(sns.signer, alarm))
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "accepted" and answer.json()["accepted"] == 1
    assert opened(local_stack, alarm["AlarmArn"])["severity"] == "Critical"
    drained(local_stack)


def test_subscription_confirmation_for_an_allowed_topic_confirms_and_enqueues_nothing(
    local_stack: Any, sns: SnsFakes
) -> None:
    drained(local_stack)
    calls_before = sim(local_stack, "stats")["tool_calls"]
    confirmation = sns.signer.signed("cloudwatch/sns-https-subscription-confirmation.json", at=datetime.now(UTC))
    answer = post_sns(local_stack, confirmation)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "subscription_confirmed" and answer.json()["accepted"] == 0
    assert sns.confirmed == [confirmation["SubscribeURL"]]
    assert queue_depth(local_stack) == 0
    assert sim(local_stack, "stats")["tool_calls"] == calls_before


def test_subscription_confirmation_for_another_topic_is_refused(local_stack: Any, sns: SnsFakes) -> None:
    drained(local_stack)
    confirmation = sns.signer.signed(
        "cloudwatch/sns-https-subscription-confirmation.json", at=datetime.now(UTC), topic=OTHER_TOPIC
    )
    fetches = len(sns.signer.fetched)
    answer = post_sns(local_stack, confirmation)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "topic_not_allowed"
    assert sns.confirmed == [] and len(sns.signer.fetched) == fetches  # refused before any certificate fetch
    assert queue_depth(local_stack) == 0


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        (lambda doc: doc.update(Message=doc["Message"].replace('"ALARM"', '"OK"')), 401, "invalid_signature"),
        (
            lambda doc: doc.update(SigningCertURL="https://s3.amazonaws.com/x/cert.pem"),
            401,
            "untrusted_certificate_url",
        ),
        (
            lambda doc: doc.update(SigningCertURL=doc["SigningCertURL"].replace("https", "http")),
            401,
            "untrusted_certificate_url",
        ),
        (lambda doc: doc.update(Timestamp="2026-11-24T10:00:41.700Z"), 401, "stale_timestamp"),
        (lambda doc: doc.update(TopicArn=OTHER_TOPIC), 403, "topic_not_allowed"),
    ],
)
def test_refused_sns_deliveries_get_a_json_4xx_and_nothing_is_enqueued(
    local_stack: Any, sns: SnsFakes, tamper: Any, status: int, code: str
) -> None:
    drained(local_stack)
    alarm = unique_alarm()
    document = sns_https(sns.signer, alarm)
    tamper(document)
    answer = post_sns(local_stack, document)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert queue_depth(local_stack) == 0
    assert incidents_for(local_stack, alarm["AlarmArn"]) == []


# --- firing -> resolved end to end ----------------------------------------------------------------------------


def test_sns_https_alarm_then_ok_opens_and_closes_one_incident(local_stack: Any, sns: SnsFakes) -> None:
    tag = uuid.uuid4().hex[:8]
    firing = unique_alarm(tag=tag)
    for _ in range(2):  # SNS redelivers: the same state change twice is one incident
        assert post_sns(local_stack, sns_https(sns.signer, firing)).status_code == 202
    incident = opened(local_stack, firing["AlarmArn"])
    assert incident["status_category"] == "triage"
    drained(local_stack)

    resolved = unique_alarm("cloudwatch/alarm-message-ok.json", tag=tag)
    answer = post_sns(local_stack, sns_https(sns.signer, resolved, "cloudwatch/sns-https-notification-ok.json"))
    assert answer.status_code == 202
    assert closed(local_stack, firing["AlarmArn"])["id"] == incident["id"]
    assert len(incidents_for(local_stack, firing["AlarmArn"])) == 1
    drained(local_stack)


def test_eventbridge_alarm_is_resolved_by_the_sns_ok_of_the_same_alarm(local_stack: Any) -> None:
    """Both AWS paths key an alarm by its ARN, so they can be mixed (or overlap during a migration)."""
    tag = uuid.uuid4().hex[:8]
    firing = unique_alarm(tag=tag)
    assert ingest(local_stack, eventbridge_event(firing))["accepted"] == 1
    incident = opened(local_stack, firing["AlarmArn"])
    drained(local_stack)
    resolved = sns_lambda_event(unique_alarm("cloudwatch/alarm-message-ok.json", tag=tag))
    assert ingest(local_stack, resolved)["accepted"] == 1
    assert closed(local_stack, firing["AlarmArn"])["id"] == incident["id"]
    drained(local_stack)


# --- the samples `sam local invoke -e` would use --------------------------------------------------------------


def test_sample_cloudwatch_events_run_through_the_ingest_handler(local_stack: Any) -> None:
    for sample in ("ingest/cloudwatch-sns-event.json", "ingest/cloudwatch-eventbridge-event.json"):
        answer = ingest(local_stack, load_event(sample))
        assert answer["status"] == "accepted" and answer["accepted"] == 1
    opened(local_stack, BASE_ARN)  # both are the same state change of the same alarm: one incident
    drained(local_stack)
    for sample in ("cloudwatch/sns-lambda-event-ok.json", "cloudwatch/eventbridge-alarm-event-ok.json"):
        assert ingest(local_stack, load_event(sample))["accepted"] == 1
    closed(local_stack, BASE_ARN)
    drained(local_stack)
