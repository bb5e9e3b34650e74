"""Input that cannot be represented is a JSON 4xx naming the field, on every source and every CloudWatch path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from alert_courier.ingress.aws_events import read_aws_event
from alert_courier.ingress.intake import read_webhook
from alert_courier.ingress.rejection import WebhookRejected
from alert_courier.ingress.webhook import WebhookRequest
from tests.conftest import load_event
from tests.ingest_harness import TOKEN, answer_body, post

OVERFLOWING = ["9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00+01:00"]
Edit = Callable[[Any, Any], None]


def _set(*path: str | int) -> Edit:
    def edit(document: Any, value: Any) -> None:
        target = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return edit


def _in_sns_message(*path: str) -> Edit:
    def edit(document: Any, value: Any) -> None:
        message = json.loads(document["Message"])
        _set(*path)(message, value)
        document["Message"] = json.dumps(message)

    return edit


# (source, sample, where the edit goes, the field the rejection must name)
TIMES: list[tuple[str, str, Edit, str]] = [
    ("alertmanager", "alertmanager/firing.json", _set("alerts", 0, "startsAt"), "alerts.0.startsAt"),
    ("alertmanager", "alertmanager/resolved.json", _set("alerts", 0, "endsAt"), "alerts.0.endsAt"),
    ("grafana", "grafana/firing.json", _set("alerts", 1, "startsAt"), "alerts.1.startsAt"),
    ("datadog", "datadog/firing.json", _set("date"), "date"),
    ("datadog", "datadog/default-template-triggered.json", _set("last_updated"), "last_updated"),
    ("generic", "generic/trigger.json", _set("payload", "timestamp"), "payload.timestamp"),
    ("cloudwatch", "cloudwatch/alarm-message.json", _set("StateChangeTime"), "alarm.StateChangeTime"),
    ("cloudwatch", "cloudwatch/eventbridge-alarm-event.json", _set("time"), "eventbridge.time"),
    (
        "cloudwatch",
        "cloudwatch/eventbridge-alarm-event.json",
        _set("detail", "state", "timestamp"),
        "eventbridge.detail.state.timestamp",
    ),
    ("cloudwatch", "cloudwatch/sns-https-notification.json", _in_sns_message("StateChangeTime"), "sns.Message"),
]
TEXTS: list[tuple[str, str, Edit, str]] = [
    ("alertmanager", "alertmanager/firing.json", _set("alerts", 0, "labels", "instance"), "alerts.0.labels.instance"),
    ("alertmanager", "alertmanager/firing.json", _set("alerts", 0, "annotations", "x"), "alerts.0.annotations.x"),
    ("alertmanager", "alertmanager/firing.json", _set("alerts", 1, "generatorURL"), "alerts.1.generatorURL"),
    ("alertmanager", "alertmanager/firing.json", _set("receiver"), "receiver"),
    ("grafana", "grafana/firing.json", _set("alerts", 0, "labels", "team"), "alerts.0.labels.team"),
    ("grafana", "grafana/firing.json", _set("receiver"), "receiver"),
    ("datadog", "datadog/firing.json", _set("title"), "title"),
    ("generic", "generic/trigger.json", _set("payload", "summary"), "payload.summary"),
    ("cloudwatch", "cloudwatch/alarm-message.json", _set("AlarmName"), "AlarmName"),
    ("cloudwatch", "cloudwatch/eventbridge-alarm-event.json", _set("detail", "alarmName"), "detail.alarmName"),
    ("cloudwatch", "cloudwatch/sns-https-notification.json", _in_sns_message("AlarmDescription"), "sns"),
]


def _document(sample: str) -> Any:
    document = load_event(sample)
    if "routing_key" in document:
        document["routing_key"] = TOKEN
    return document


def _refusal(source: str, document: Any) -> WebhookRejected:
    body = json.dumps(document).encode()  # json.dumps writes a lone surrogate as the escape "\ud800"
    headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(WebhookRequest(source, headers, body, "c"), lambda _s: [TOKEN], 10**7)
    return caught.value


@pytest.mark.parametrize("moment", OVERFLOWING)
@pytest.mark.parametrize(("source", "sample", "edit", "field"), TIMES)
def test_a_time_without_a_utc_equivalent_is_422_naming_it(
    source: str, sample: str, edit: Edit, field: str, moment: str
) -> None:
    document = _document(sample)
    edit(document, moment)
    refused = _refusal(source, document)
    assert refused.status == 422
    assert refused.field is not None and refused.field.startswith(field)
    assert "UTC" in refused.reason


@pytest.mark.parametrize(("source", "sample", "edit", "field"), TEXTS)
def test_a_lone_surrogate_is_422_naming_the_field(source: str, sample: str, edit: Edit, field: str) -> None:
    document = _document(sample)
    edit(document, "before \ud800 after")
    refused = _refusal(source, document)
    assert refused.status == 422
    assert refused.field is not None and refused.field.endswith(field)
    assert "surrogate" in refused.reason


def test_a_lone_surrogate_in_a_key_is_named_printably() -> None:
    document = _document("alertmanager/firing.json")
    document["alerts"][0]["labels"]["bad\udc00key"] = "v"
    refused = _refusal("alertmanager", document)
    assert refused.code == "invalid_text" and refused.field == "alerts.0.labels.bad\ufffdkey"
    json.dumps(refused.body()).encode("utf-8")  # the answer itself is valid UTF-8


def test_a_valid_surrogate_pair_is_text() -> None:
    document = _document("alertmanager/firing.json")
    document["alerts"][0]["labels"]["emoji"] = "\U0001f525"
    body = json.dumps(document).encode()  # ensure_ascii: written as the pair "\ud83d\udd25"
    assert b"\\ud83d\\udd25" in body
    headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    intake = read_webhook(WebhookRequest("alertmanager", headers, body, "c"), lambda _s: [TOKEN], 10**7)
    assert intake.alerts[0].labels["emoji"] == "\U0001f525"


@pytest.mark.parametrize(("source", "sample", "edit", "field"), [*TIMES[:1], *TEXTS[:1]])
def test_through_the_handler_it_is_a_json_422(source: str, sample: str, edit: Edit, field: str) -> None:
    document = _document(sample)
    edit(document, OVERFLOWING[0] if "At" in field else "\ud800")
    answer, sqs = post(source, document, authorization=f"Bearer {TOKEN}")
    assert answer["statusCode"] == 422
    assert answer_body(answer)["error"]["field"].startswith(field)
    assert sqs.queued == []


def test_aws_invoked_events_skip_what_cannot_be_represented() -> None:
    """Lambda retries an exception forever: an unreadable SNS record or EventBridge event is skipped with why."""
    sns_event = load_event("cloudwatch/sns-lambda-event.json")
    sns_event["Records"][0]["Sns"]["Subject"] = "\ud800"
    delivery = read_aws_event(sns_event)
    assert delivery is not None and delivery.alerts == [] and "surrogate" in delivery.ignored[0]
    for moment in OVERFLOWING:
        eventbridge = load_event("cloudwatch/eventbridge-alarm-event.json")
        eventbridge["detail"]["state"]["timestamp"] = moment
        delivery = read_aws_event(eventbridge)
        assert delivery is not None and delivery.alerts == [] and "UTC" in delivery.ignored[0]
    eventbridge = load_event("cloudwatch/eventbridge-alarm-event.json")
    eventbridge["detail"]["alarmName"] = "\udfff"
    delivery = read_aws_event(eventbridge)
    assert delivery is not None and delivery.alerts == [] and "surrogate" in delivery.ignored[0]
