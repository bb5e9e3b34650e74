"""`alert-courier reconcile [--dry-run] --local` through the real command against the session's local stack (moto's
CloudWatch and DynamoDB, the simulator over HTTP): the dry run prints exactly the lines the real pass then prints,
and changes nothing; the real pass closes a CloudWatch incident whose OK was lost and marks a person's close."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from alert_courier.aws.dynamodb_stores import GroupStateStore
from alert_courier.domain.group_state import state_id_for
from alert_courier.operator_tools import cli
from tests.conftest import load_event, wait_until
from tests.integration.test_pipeline import post, queue_depth, sim
from tests.integration.test_status_cli import table


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = cli.main(list(args))
    return code, capsys.readouterr().out.strip().splitlines()


def alarm_firing(stack: Any) -> tuple[str, Any]:
    """A real alarm in the local moto, in ALARM, whose notification reached alert-courier (SNS route)."""
    cloudwatch = stack.aws.client("cloudwatch")
    name = f"reconcile-{uuid.uuid4().hex[:8]}"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="5XXError",
        Namespace="AWS/ApiGateway",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    arn = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    message = load_event("cloudwatch/alarm-message.json")
    message |= {
        "AlarmName": name,
        "AlarmArn": arn,
        "AWSAccountId": arn.split(":")[4],
        "Region": "US East (N. Virginia)",
    }
    assert post(stack, json.dumps(message).encode(), path="/_local/sns/CloudWatchAlarmTopic").status_code == 200
    store = GroupStateStore(table(stack))
    state = wait_until(
        lambda: (s := store.load(state_id_for("cloudwatch", arn))).incident_open and s, what="the alarm's incident"
    )
    wait_until(lambda: queue_depth(stack) == 0, what="the queue to drain")
    return name, state


def incident_category(stack: Any, incident_id: str) -> str:
    [incident] = [i for i in sim(stack, "state")["incidents"] if i["id"] == incident_id]
    return str(incident["status_category"])


def test_the_dry_run_prints_exactly_what_the_real_pass_then_does(
    local_settings_of: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = local_settings_of
    lost_ok, lost = alarm_firing(stack)
    _, still = alarm_firing(stack)
    _, closed = alarm_firing(stack)
    stack.aws.client("cloudwatch").set_alarm_state(AlarmName=lost_ok, StateValue="OK", StateReason="back")
    # (its OK notification never reached alert-courier)
    closing = httpx.post(f"{stack.simulator_url}/_sim/incidents/{closed.incident_reference}/close", timeout=10)
    assert closing.status_code == 200

    calls = dict(sim(stack, "stats")["tool_calls"])
    code, planned = run(capsys, "reconcile", "--dry-run", "--local")
    assert code == 0, planned
    after = dict(sim(stack, "stats")["tool_calls"])
    assert {k: v for k, v in after.items() if k != "incident_show"} == {
        k: v for k, v in calls.items() if k != "incident_show"
    }  # it only read
    assert incident_category(stack, lost.incident_id) == "triage"  # the dry run changed nothing
    mine = [line for line in planned if lost.group_id in line or closed.group_id in line or still.group_id in line]
    assert len(mine) == 2, planned
    assert any("resolve: CloudWatch says OK at " in line and "-> resolve_incident" in line for line in mine)
    assert any("closed_by_human: incident.io says " in line for line in mine)

    code, done = run(capsys, "reconcile", "--local")
    assert code == 0, done
    assert [line for line in done if line in mine] == mine  # the same lines: what the dry run said is what happened
    assert incident_category(stack, lost.incident_id) == "closed"
    assert incident_category(stack, still.incident_id) == "triage"
    store = GroupStateStore(table(stack))
    assert store.load(closed.group_id).closed_by_human_at is not None
    code, again = run(capsys, "reconcile", "--dry-run", "--local")
    assert not [line for line in again if lost.group_id in line or closed.group_id in line]


def test_reconcile_needs_to_be_told_where(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["reconcile", "--dry-run"]) == 1
    assert "--local or --stack" in capsys.readouterr().err
