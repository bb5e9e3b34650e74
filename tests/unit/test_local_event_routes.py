"""The local stack's EventBridge matching and SNS event shape (the routes themselves are tested over HTTP in
tests/integration/test_local_stack_tools.py)."""

from __future__ import annotations

from alert_courier.ingress.aws_events import read_aws_event
from alert_courier_local.local_routes import pattern_matches, sns_lambda_event
from alert_courier_local.template_model import functions, load_template
from tests.conftest import EVENTS, load_event


def ingest_rule() -> dict[str, object]:
    [ingest] = [spec for spec in functions(load_template()) if spec.logical_id == "IngestFunction"]
    assert ingest.sns_topics == {"CloudWatchAlarmsViaSns": "CloudWatchAlarmTopic"}
    return ingest.eventbridge_rules["CloudWatchAlarmStateChange"]


def test_the_templates_alarm_rule_takes_alarm_and_ok_and_nothing_else() -> None:
    pattern = ingest_rule()
    alarm, ok = (
        load_event("cloudwatch/eventbridge-alarm-event.json"),
        load_event("cloudwatch/eventbridge-alarm-event-ok.json"),
    )
    assert pattern_matches(pattern, alarm) and pattern_matches(pattern, ok)
    insufficient = {**alarm, "detail": {**alarm["detail"], "state": {"value": "INSUFFICIENT_DATA"}}}
    assert not pattern_matches(pattern, insufficient)
    assert not pattern_matches(pattern, {**alarm, "source": "aws.ec2"})
    assert not pattern_matches(pattern, {**alarm, "detail-type": "EC2 Instance State-change Notification"})


def test_prefix_exists_and_anything_but() -> None:
    assert pattern_matches({"detail": {"alarmName": [{"prefix": "page-"}]}}, {"detail": {"alarmName": "page-db"}})
    assert not pattern_matches({"detail": {"alarmName": [{"prefix": "page-"}]}}, {"detail": {"alarmName": "db"}})
    assert pattern_matches({"detail": {"x": [{"exists": False}]}}, {"detail": {}})
    assert not pattern_matches({"detail": {"x": [{"exists": True}]}}, {"detail": {}})
    assert pattern_matches({"source": [{"anything-but": ["aws.ec2"]}]}, {"source": "aws.cloudwatch"})
    assert not pattern_matches({"source": [{"anything-but": "aws.ec2"}]}, {"source": "aws.ec2"})


def test_the_sns_event_is_what_ingest_reads_as_an_sns_delivery() -> None:
    message = (EVENTS / "cloudwatch" / "alarm-message.json").read_text()
    delivered = read_aws_event(sns_lambda_event("CloudWatchAlarmTopic", message, "ALARM"))
    assert delivered is not None and delivered.kind == "sns"
    assert [alert.title for alert in delivered.alerts] == ["checkout-api-5xx-high"]
