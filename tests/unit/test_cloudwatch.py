"""CloudWatch alarms: the alarm message and EventBridge models, the normaliser, the AWS-invoked event paths, explain."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alert_courier.domain.alert import AlertStatus, Severity
from alert_courier.domain.rules import load_rules, plan_for
from alert_courier.ingress.aws_events import alerts_from_lambda_event, read_aws_event
from alert_courier.ingress.intake import read_webhook
from alert_courier.ingress.rejection import WebhookRejected
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.operator_tools.explain import ExplainError, alerts_from_document
from alert_courier.sources.cloudwatch import CloudWatchWebhook, console_url, normalise_cloudwatch
from tests.conftest import load_event
from tests.strategies import break_some_fields, json_values

ARN = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:checkout-api-5xx-high"
TOKEN = "cw-token-0b9e"
NOW = datetime(2026, 11, 25, 10, 1, tzinfo=UTC)


def secrets(_source: str) -> list[str]:
    return [TOKEN]


def normalised(document: Any) -> list[Any]:
    return normalise_cloudwatch(CloudWatchWebhook.model_validate(document))


def http(document: Any, headers: dict[str, str] | None = None) -> WebhookRequest:
    default = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    return WebhookRequest("cloudwatch", {**default, **(headers or {})}, json.dumps(document).encode(), "c-1")


@pytest.fixture
def message() -> dict[str, Any]:
    return load_event("cloudwatch/alarm-message.json")


@pytest.fixture
def event() -> dict[str, Any]:
    return load_event("cloudwatch/eventbridge-alarm-event.json")


# --- the alarm message ---------------------------------------------------------------------------------------------


def test_alarm_message_becomes_a_firing_alert_keyed_by_the_alarm_arn(message: dict[str, Any]) -> None:
    [alert] = normalised(message)
    assert alert.source == "cloudwatch"
    assert alert.dedup_key == alert.group_key == ARN
    assert alert.status is AlertStatus.FIRING
    assert alert.severity is Severity.CRITICAL and alert.raw["severity_from"] == "description"
    assert alert.title == "checkout-api-5xx-high"
    assert alert.started_at == datetime(2026, 11, 25, 10, 0, 41, 512000, tzinfo=UTC)  # the "+0000" offset
    assert alert.ended_at is None
    assert alert.labels == {
        "ApiName": "checkout-api",
        "Stage": "prod",
        "alarm_name": "checkout-api-5xx-high",
        "account": "111122223333",
        "region": "eu-west-1",  # from the ARN, not the display name "EU (Ireland)"
        "alarm_type": "metric",
        "namespace": "AWS/ApiGateway",
        "metric_name": "5XXError",
    }
    assert alert.links == {
        "cloudwatch": "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#alarmsV2:alarm/checkout-api-5xx-high"
    }
    assert "alert-courier:severity" not in alert.description  # the token is for us, not for people
    assert alert.description.startswith("Checkout API answers more than 5% 5xx")
    assert "Threshold Crossed" in alert.description
    assert alert.annotations["threshold"] == "5" and alert.annotations["comparison_operator"] == "GreaterThanThreshold"
    assert alert.raw["state"] == "ALARM" and alert.raw["previous_state"] == "OK"


def test_ok_resolves_and_ends_at_the_state_change() -> None:
    [alert] = normalised(load_event("cloudwatch/alarm-message-ok.json"))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.dedup_key == ARN
    assert alert.ended_at == datetime(2026, 11, 25, 10, 20, 41, 734000, tzinfo=UTC)
    assert alert.started_at is None  # SNS does not say when the ALARM began


def test_insufficient_data_is_no_alert(message: dict[str, Any], event: dict[str, Any]) -> None:
    message["NewStateValue"] = "INSUFFICIENT_DATA"
    event["detail"]["state"]["value"] = "INSUFFICIENT_DATA"
    assert normalised(message) == []
    assert normalised(event) == []


def test_same_state_change_twice_is_the_same_transition(message: dict[str, Any]) -> None:
    first, second = normalised(message)[0], normalised(copy.deepcopy(message))[0]
    assert first.transition_id() == second.transition_id()


@pytest.mark.parametrize(
    ("tags", "description", "severity", "word", "found_in"),
    [
        ({"alert-courier:severity": "info"}, "alert-courier:severity=critical", Severity.INFO, "info", "tag"),
        ({}, "Pages the team. alert-courier:severity: P2", Severity.ERROR, "P2", "description"),
        ({"Severity": "warning"}, "nothing here", Severity.WARNING, "warning", "tag severity"),
        ({}, "", Severity.WARNING, "", "default"),
        ({}, "alert-courier:severity=sev1", Severity.WARNING, "sev1", "description"),  # a rules word, see below
    ],
)
def test_severity_from_tag_description_or_default(
    message: dict[str, Any], tags: dict[str, str], description: str, severity: Severity, word: str, found_in: str
) -> None:
    message["AlarmDescription"] = description
    message["AlarmTags"] = tags
    [alert] = normalised(message)
    assert alert.severity is severity
    assert alert.raw["severity_word"] == word
    assert alert.raw["severity_from"].startswith(found_in)


def test_the_rules_severity_words_apply_to_the_word(message: dict[str, Any]) -> None:
    message["AlarmDescription"] = "alert-courier:severity=sev1"
    plan = plan_for(normalised(message)[0], load_rules())
    assert plan.alert.severity is Severity.CRITICAL  # default_rules.yaml: sev1 -> critical
    assert [matched.rule for matched in plan.matched] == ["critical"]


def test_tags_become_labels_but_not_aws_ones_and_fixed_labels_win(message: dict[str, Any]) -> None:
    message["AlarmTags"] = [
        {"Key": "team", "Value": "storefront"},
        {"Key": "aws:cloudformation:stack-name", "Value": "x"},
    ]
    message["Trigger"]["Dimensions"].append({"name": "region", "value": "spoofed"})
    [alert] = normalised(message)
    assert alert.labels["team"] == "storefront"
    assert not any(key.startswith("aws:") for key in alert.labels)
    assert alert.labels["region"] == "eu-west-1"


def test_composite_alarm_has_a_rule_instead_of_a_trigger(message: dict[str, Any]) -> None:
    del message["Trigger"]
    message["AlarmRule"] = 'ALARM("checkout-api-5xx-high") AND ALARM("checkout-latency-high")'
    message["AlarmArn"] = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:checkout-down"
    message["AlarmName"] = "checkout-down"
    [alert] = normalised(message)
    assert alert.labels["alarm_type"] == "composite"
    assert "namespace" not in alert.labels
    assert alert.annotations["alarm_rule"].startswith('ALARM("checkout-api-5xx-high")')


def test_metric_math_reads_the_queried_metric(message: dict[str, Any]) -> None:
    message["Trigger"] = {
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 1.0,
        "Metrics": [
            {"Id": "e1", "Expression": "m1 / m2 * 100", "Label": "error rate", "ReturnData": True},
            {
                "Id": "m1",
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {
                        "Dimensions": [{"value": "orders", "name": "FunctionName"}],
                        "MetricName": "Errors",
                        "Namespace": "AWS/Lambda",
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
        ],
    }
    [alert] = normalised(message)
    assert alert.labels["namespace"] == "AWS/Lambda" and alert.labels["metric_name"] == "Errors"
    assert alert.labels["FunctionName"] == "orders"
    assert alert.annotations["expressions"] == "m1 / m2 * 100"


def test_null_description_and_unit_are_fine(message: dict[str, Any]) -> None:
    message["AlarmDescription"] = None
    message["OldStateValue"] = None
    message["Trigger"]["Dimensions"] = None
    [alert] = normalised(message)
    assert alert.severity is Severity.WARNING
    assert alert.description.startswith("Threshold Crossed")


@pytest.mark.parametrize(
    ("partition", "region", "host"),
    [
        ("aws", "us-east-1", "us-east-1.console.aws.amazon.com"),
        ("aws-cn", "cn-north-1", "cn-north-1.console.amazonaws.cn"),
        ("aws-us-gov", "us-gov-west-1", "us-gov-west-1.console.amazonaws-us-gov.com"),
    ],
)
def test_console_link_per_partition(partition: str, region: str, host: str) -> None:
    url = console_url(partition, region, "api 5xx/high")
    assert url == f"https://{host}/cloudwatch/home?region={region}#alarmsV2:alarm/api%205xx%2Fhigh"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"AlarmArn": "arn:aws:sns:eu-west-1:111122223333:topic"}, "alarm.AlarmArn"),
        ({"NewStateValue": "BROKEN"}, "alarm.NewStateValue"),
        ({"StateChangeTime": "yesterday"}, "alarm.StateChangeTime"),
        ({"AlarmName": ""}, "alarm.AlarmName"),
        ({"AlarmArn": f"{ARN}-{'x' * 500}"}, "alarm.AlarmArn"),
    ],
)
def test_a_wrong_alarm_message_is_a_422_naming_the_field(
    message: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(http({**message, **change}), secrets, 1_000_000, now=NOW)
    assert (caught.value.status, caught.value.code, caught.value.field) == (422, "invalid_payload", field)


def test_something_else_entirely_is_a_422(message: dict[str, Any]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(http([message]), secrets, 1_000_000, now=NOW)
    assert caught.value.status == 422 and "expected an SNS message" in caught.value.reason


# --- EventBridge -----------------------------------------------------------------------------------------------


def test_eventbridge_event_is_the_same_alert(event: dict[str, Any], message: dict[str, Any]) -> None:
    [from_event] = normalised(event)
    [from_message] = normalised(message)
    assert from_event.dedup_key == from_message.dedup_key == ARN
    assert from_event.status is AlertStatus.FIRING
    assert from_event.started_at == from_message.started_at
    assert from_event.severity is Severity.CRITICAL and from_event.raw["severity_from"] == "tag alert-courier:severity"
    assert from_event.labels["team"] == "storefront"
    assert {key: from_event.labels[key] for key in from_message.labels} == from_message.labels
    assert from_event.links == from_message.links
    assert from_event.raw["event_id"] == event["id"]


def test_eventbridge_ok_knows_when_the_alarm_began() -> None:
    [alert] = normalised(load_event("cloudwatch/eventbridge-alarm-event-ok.json"))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.started_at == datetime(2026, 11, 25, 10, 0, 41, 512000, tzinfo=UTC)
    assert alert.ended_at == datetime(2026, 11, 25, 10, 20, 41, 734000, tzinfo=UTC)


def test_eventbridge_event_over_http_needs_the_integration_secret(event: dict[str, Any]) -> None:
    assert read_webhook(http(event), secrets, 1_000_000, now=NOW).alerts[0].raw["delivery"] == "eventbridge-http"
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(http(event, {"authorization": ""}), secrets, 1_000_000, now=NOW)
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")


def test_eventbridge_resource_must_be_an_alarm_arn(event: dict[str, Any]) -> None:
    event["resources"] = ["arn:aws:ec2:eu-west-1:111122223333:instance/i-1"]
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(http(event), secrets, 1_000_000, now=NOW)
    assert caught.value.field == "eventbridge.resources"


# --- events AWS invokes the ingest function with ---------------------------------------------------------------


def test_sns_lambda_event_yields_the_alarm_with_its_message_id() -> None:
    event = load_event("cloudwatch/sns-lambda-event.json")
    delivered = read_aws_event(event)
    assert delivered is not None and delivered.kind == "sns" and delivered.ignored == []
    [alert] = delivered.alerts
    assert alert.dedup_key == ARN and alert.status is AlertStatus.FIRING
    assert alert.raw["delivery"] == "sns"
    assert alert.raw["topic_arn"] == event["Records"][0]["Sns"]["TopicArn"]
    [envelope] = delivered.envelopes("request-1")
    assert envelope.correlation_id == event["Records"][0]["Sns"]["MessageId"]
    assert [alert.transition_id() for alert in alerts_from_lambda_event(event) or []] == [alert.transition_id()]


def test_sns_lambda_event_with_many_records_and_bad_ones_skips_only_the_bad_ones() -> None:
    firing = load_event("cloudwatch/sns-lambda-event.json")["Records"][0]
    resolved = load_event("cloudwatch/sns-lambda-event-ok.json")["Records"][0]
    not_json = copy.deepcopy(firing)
    not_json["Sns"]["Message"] = "hello from a test publish"
    insufficient = copy.deepcopy(firing)
    insufficient["Sns"]["Message"] = json.dumps(
        {**json.loads(firing["Sns"]["Message"]), "NewStateValue": "INSUFFICIENT_DATA"}
    )
    wrong_shape = copy.deepcopy(firing)
    wrong_shape["Sns"]["Message"] = json.dumps({"AlarmName": "x"})
    delivered = read_aws_event({"Records": [firing, not_json, insufficient, wrong_shape, resolved, 5]})
    assert delivered is not None
    assert [alert.status for alert in delivered.alerts] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    assert len(delivered.ignored) == 4 and "not aws:sns" in delivered.ignored[3]
    assert "not JSON" in delivered.ignored[0]
    assert "INSUFFICIENT_DATA" in delivered.ignored[1]
    assert "Message.NewStateValue" in delivered.ignored[2]


def test_an_eventbridge_event_forwarded_by_sns_is_read_too(event: dict[str, Any]) -> None:
    record = load_event("cloudwatch/sns-lambda-event.json")
    record["Records"][0]["Sns"]["Message"] = json.dumps(event)
    delivered = read_aws_event(record)
    assert delivered is not None
    [alert] = delivered.alerts
    assert alert.dedup_key == ARN and alert.labels["team"] == "storefront"


def test_eventbridge_event_and_alarm_action_event() -> None:
    delivered = read_aws_event(load_event("cloudwatch/eventbridge-alarm-event.json"))
    assert delivered is not None and delivered.kind == "eventbridge"
    assert [alert.dedup_key for alert in delivered.alerts] == [ARN]
    assert delivered.envelopes("x")[0].correlation_id == "6a7e8feb-b491-4cf7-a9f1-bf3703467718"
    action = read_aws_event(load_event("cloudwatch/lambda-alarm-action-event.json"))
    assert action is not None and action.kind == "alarm-action"
    [alert] = action.alerts
    assert alert.dedup_key == ARN and alert.severity is Severity.CRITICAL
    assert action.envelopes("request-7")[0].correlation_id == "request-7"


def test_other_eventbridge_events_are_skipped_not_raised(event: dict[str, Any]) -> None:
    event["detail-type"] = "CloudWatch Alarm Configuration Change"
    delivered = read_aws_event(event)
    assert delivered is not None and delivered.alerts == [] and delivered.ignored
    broken = load_event("cloudwatch/eventbridge-alarm-event.json")
    broken["detail"]["state"] = "ALARM"
    delivered = read_aws_event(broken)
    assert delivered is not None and delivered.alerts == [] and "detail.state" in delivered.ignored[0]


@pytest.mark.parametrize(
    "event",
    [
        load_event("ingest/alertmanager-firing.json"),  # HTTP API: for the resolver
        {},
        {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]},
        {"source": "aws.cloudwatch"},
        [],
        "text",
    ],
)
def test_anything_else_is_not_an_aws_event(event: Any) -> None:
    assert read_aws_event(event) is None


# --- explain -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sample",
    [
        "cloudwatch/alarm-message.json",
        "cloudwatch/sns-lambda-event.json",
        "cloudwatch/eventbridge-alarm-event.json",
        "cloudwatch/lambda-alarm-action-event.json",
        "cloudwatch/sns-https-notification.json",
        "ingest/cloudwatch-sns-event.json",
        "ingest/cloudwatch-eventbridge-event.json",
    ],
)
def test_explain_reads_every_shape(sample: str) -> None:
    [alert] = alerts_from_document("cloudwatch", load_event(sample))
    assert alert.dedup_key == ARN and alert.status is AlertStatus.FIRING and alert.severity is Severity.CRITICAL


def test_explain_says_why_an_aws_event_has_no_alert(event: dict[str, Any]) -> None:
    event["detail"]["state"]["value"] = "INSUFFICIENT_DATA"
    with pytest.raises(ExplainError, match="INSUFFICIENT_DATA"):
        alerts_from_document("cloudwatch", event)


# --- whatever AWS (or a misconfigured rule) invokes the function with, reading it never raises -----------------

AWS_SAMPLES = [
    "cloudwatch/sns-lambda-event.json",
    "cloudwatch/eventbridge-alarm-event.json",
    "cloudwatch/lambda-alarm-action-event.json",
]


@st.composite
def mutated_aws_event(draw: st.DrawFn) -> Any:
    return break_some_fields(draw, load_event(draw(st.sampled_from(AWS_SAMPLES))), most=4)


@settings(max_examples=300, deadline=None)
@given(event=st.one_of(mutated_aws_event(), json_values))
def test_reading_an_aws_event_never_raises(event: Any) -> None:
    delivered = read_aws_event(event)
    if delivered is not None:
        assert all(alert.source == "cloudwatch" and alert.dedup_key for alert in delivered.alerts)
        assert len(delivered.envelopes("fallback")) == len(delivered.alerts)
