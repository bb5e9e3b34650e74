"""The reconcile pass on the real adapters (moto, in-process): CloudWatch's DescribeAlarms (batched, another
account through sts:AssumeRole), the DynamoDB store's index of the groups held open, a lost OK closed from
CloudWatch. The pass's logic on in-memory ports: tests/unit/test_reconciliation.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from alert_courier.aws.cloudwatch_alarms import CloudWatchAlarmStates, boto3_clients, parse_role_arns
from alert_courier.aws.dynamodb_stores import ActionLedger, DecisionHistory, GroupStateStore
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.rules import parse_rules
from alert_courier.use_cases.courier import Courier
from alert_courier.use_cases.reconciliation import Reconciler
from alert_courier.use_cases.telemetry import RecordedTelemetry
from alert_courier.wiring import runner_on
from tests.integration.test_courier_dynamodb import FakeIncidentIo

RULES = parse_rules("rules: [{name: all, actions: [open_incident]}]")
OTHER_ACCOUNT = "210987654321"


@pytest.fixture
def table(in_process_aws: Any) -> Iterator[Any]:
    dynamodb = boto3.resource("dynamodb", region_name="eu-west-1")
    yield dynamodb.create_table(
        TableName=f"state-{uuid.uuid4().hex[:8]}",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def put_alarm(client: Any, name: str) -> str:
    client.put_metric_alarm(
        AlarmName=name,
        MetricName="CPUUtilization",
        Namespace="AWS/EC2",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=90.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    client.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test: over the threshold")
    return str(client.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"])


def firing(arn: str) -> AlertEnvelope:
    alert = Alert(
        source="cloudwatch",
        dedup_key=arn,
        group_key=arn,
        status=AlertStatus.FIRING,
        severity=Severity.CRITICAL,
        title=arn.rsplit(":", 1)[-1],
        started_at=datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
    )
    return AlertEnvelope(alert=alert, correlation_id="corr")


def test_a_lost_ok_is_closed_from_describe_alarms_in_batches_of_100(table: Any) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    tools, telemetry = FakeIncidentIo(), RecordedTelemetry()
    states, history = GroupStateStore(table), DecisionHistory(table)
    courier = Courier(states, runner_on(ActionLedger(table), tools, telemetry=telemetry), history, lambda: RULES)
    arns = [put_alarm(cloudwatch, f"cpu-{number:03}") for number in range(130)]
    for arn in arns:
        courier.handle(firing(arn))
    assert len(states.open_group_ids()) == 130
    truth = CloudWatchAlarmStates(boto3_clients())
    reconciler = Reconciler(
        courier=courier, states=states, open_groups=states, history=history, rules=lambda: RULES, truths=[truth]
    )
    assert reconciler.run().changes == [] and truth.calls == 2  # 130 names: two DescribeAlarms calls

    cloudwatch.set_alarm_state(AlarmName="cpu-007", StateValue="OK", StateReason="test: back to normal")
    cloudwatch.set_alarm_state(AlarmName="cpu-008", StateValue="INSUFFICIENT_DATA", StateReason="test: no data")
    # (their OK notifications were lost: nothing reached the ingest function)
    planned = reconciler.plan()
    closes_before = sum(1 for name, _ in tools.calls if name == "incident_update")
    done = reconciler.run()
    assert [change.line() for change in planned.changes] == [change.line() for change in done.changes]
    assert sorted(change.dedup_key for change in done.changes) == [arns[7], arns[8]]
    assert sum(1 for name, _ in tools.calls if name == "incident_update") == closes_before + 2
    assert len(states.open_group_ids()) == 128  # the index lost the two groups it no longer holds open
    said = history.read("cloudwatch", arns[7])[-1]["reasons"][0]
    assert said.startswith("reconciled: CloudWatch says OK at ")
    assert reconciler.run().changes == []


def test_another_accounts_alarms_are_read_through_its_role(table: Any) -> None:
    iam = boto3.client("iam", region_name="eu-west-1")
    role = iam.create_role(RoleName="alert-courier-reconcile", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    role = role.replace("123456789012", OTHER_ACCOUNT)  # the role as it would be named in the other account
    sts = boto3.client("sts", region_name="eu-west-1")
    creds = sts.assume_role(RoleArn=role, RoleSessionName="setup")["Credentials"]
    other = boto3.client(
        "cloudwatch",
        region_name="eu-west-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    arn = put_alarm(other, "theirs")
    assert f":{OTHER_ACCOUNT}:" in arn
    state = GroupStateStore(table)
    tools = FakeIncidentIo()
    courier = Courier(state, runner_on(ActionLedger(table), tools), DecisionHistory(table), lambda: RULES)
    courier.handle(firing(arn))
    other.set_alarm_state(AlarmName="theirs", StateValue="OK", StateReason="test")

    without_role = CloudWatchAlarmStates(boto3_clients())
    seen = without_role.observe([state.load(state.open_group_ids()[0])])
    assert seen == {} and without_role.missing == [arn]  # our own account has no such alarm: no news
    with_role = CloudWatchAlarmStates(boto3_clients(), role_arns=parse_role_arns(role))
    seen = with_role.observe([state.load(state.open_group_ids()[0])])
    assert seen[arn].firing is False and seen[arn].says.startswith("CloudWatch says OK at ")


def test_role_arns_parameter_is_checked() -> None:
    role = "arn:aws:iam::000000000001:role/reconcile"
    assert parse_role_arns(f" {role} ,\n") == {"000000000001": role}
    with pytest.raises(ValueError, match="not an IAM role ARN"):
        parse_role_arns("arn:aws:iam::1:role/r")
