"""`alert-courier status --local` through the real command, against the session's local stack (ephemeral ports,
found through LOCAL_* as an operator's overrides would): open groups, pending levels, heartbeats, the DLQ."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from alert_courier.aws.dynamodb_stores import GroupStateStore
from alert_courier.domain.group_state import state_id_for
from alert_courier.operator_tools import cli
from alert_courier.operator_tools.local_stack_probe import TABLE_NAME
from tests.conftest import wait_until
from tests.integration.test_pipeline import HEADERS, incidents_for, post, resolved_version, unique_notification

WATCHDOG = "alertmanager-watchdog"  # the shipped rules' per-cluster heartbeat


def table(stack: Any) -> Any:
    return boto3.resource("dynamodb", endpoint_url=stack.aws.endpoint_url, region_name="us-east-1").Table(TABLE_NAME)


def status(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert cli.main(["status", "--local", *args]) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else out


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def payments_group(
    local_stack: Any, alertmanager_firing: dict[str, Any], alertmanager_resolved: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """A firing group the shipped `payments` rule takes: an incident, a page, and a level due in 15 minutes.
    Resolved afterwards, so that no level comes due later in the session."""
    firing = unique_notification(alertmanager_firing)
    firing["commonLabels"]["team"] = "payments"
    for alert in firing["alerts"]:
        alert["labels"]["team"] = "payments"
    assert post(local_stack, firing).status_code == 202
    wait_until(lambda: incidents_for(local_stack, firing), what="the payments group's incident")
    states = GroupStateStore(table(local_stack))
    group_id = state_id_for("alertmanager", firing["groupKey"])
    wait_until(lambda: len(states.load(group_id).firing) == 2, what="both alerts to reach the group")
    yield firing
    post(local_stack, resolved_version(firing, alertmanager_resolved))


@pytest.fixture
def cluster(local_stack: Any) -> Iterator[str]:
    """A Watchdog cluster of this test's own; its heartbeat records are deleted afterwards, so that the session's
    scheduler never finds it silent (and opens an incident in the middle of another test)."""
    name = f"status-{uuid.uuid4().hex[:8]}"
    yield name
    for sk in (f"ping#{name}", f"state#{name}"):
        table(local_stack).delete_item(Key={"pk": f"heartbeat#{WATCHDOG}", "sk": sk})


def ping(stack: Any, name: str, instance: str) -> dict[str, Any]:
    response = httpx.post(f"{stack.front_door_url}/heartbeats/{name}?instance={instance}", headers=HEADERS, timeout=30)
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_status_shows_an_open_group_its_incident_and_its_pending_level(
    local_settings_of: Any, payments_group: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    [incident] = incidents_for(local_settings_of, payments_group)
    document = status(capsys, "--json")
    [group] = [g for g in document["groups"] if g["group_key"] == payments_group["groupKey"]]
    assert group["source"] == "alertmanager"
    assert group["incident_reference"] == incident["reference"] and group["incident_open"] is True
    assert group["severity"] == "critical"
    assert group["alerts_firing"] == 2
    assert 0 <= group["age_seconds"] < 120
    [level] = group["pending_escalations"]  # the immediate page went out; the 15-minute level waits
    assert level["user_ids"] == ["01HR716BWNFMGT83PXT891WB09"]
    due = parse_time(level["due_at"])
    assert timedelta(minutes=13) < due - datetime.now(UTC) <= timedelta(minutes=15)
    assert 13 * 60 < level["due_in_seconds"] <= 15 * 60

    lines = [line for line in status(capsys).splitlines() if payments_group["groupKey"] in line]
    [group_line] = [line for line in lines if line.startswith("group")]
    assert f"{incident['reference']} (open)" in group_line and "critical" in group_line and "2 firing" in group_line
    [level_line] = [line for line in lines if line.startswith("escalation")]
    assert f"level {level['level']} due {level['due_at']}" in level_line and "01HR716BWNFMGT83PXT891WB09" in level_line


def test_a_resolved_group_leaves_the_status(
    local_settings_of: Any,
    alertmanager_firing: dict[str, Any],
    alertmanager_resolved: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    firing = unique_notification(alertmanager_firing)
    assert post(local_settings_of, firing).status_code == 202
    wait_until(lambda: incidents_for(local_settings_of, firing), what="the incident")
    assert any(g["group_key"] == firing["groupKey"] for g in status(capsys, "--json")["groups"])
    assert post(local_settings_of, resolved_version(firing, alertmanager_resolved)).status_code == 202
    wait_until(lambda: incidents_for(local_settings_of, firing)[0]["status"] == "Closed", what="the incident to close")
    assert not any(g["group_key"] == firing["groupKey"] for g in status(capsys, "--json")["groups"])
    assert firing["groupKey"] not in status(capsys)


def test_status_shows_a_heartbeats_last_ping_and_next_deadline(
    local_settings_of: Any, cluster: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = parse_time(ping(local_settings_of, WATCHDOG, cluster)["seen_at"])
    [row] = [h for h in status(capsys, "--json")["heartbeats"] if h["key"] == f"{WATCHDOG}/{cluster}"]
    assert abs(parse_time(row["last_ping"]) - seen) < timedelta(seconds=1)
    # the shipped rule: every 10 minutes, 5 minutes' grace
    assert abs(parse_time(row["next_deadline"]) - (seen + timedelta(minutes=15))) < timedelta(seconds=1)
    assert row["missed"] is False and row["overdue"] is False
    [line] = [line for line in status(capsys).splitlines() if f"{WATCHDOG}/{cluster} " in line]
    assert line.startswith("heartbeat") and f"next deadline {row['next_deadline']}" in line and line.endswith("ok")


def test_status_judges_heartbeats_by_the_rules_it_is_given(
    local_settings_of: Any, cluster: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With `--rules`, a 1-second interval: the ping is overdue by those rules (the stack has not said so)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"heartbeats:\n  - name: {WATCHDOG}\n    interval: 1s\n    per_label: cluster\n"
        "    match: {labels: {alertname: Watchdog}}\n"
    )
    ping(local_settings_of, WATCHDOG, cluster)
    time.sleep(1.5)
    [row] = [h for h in status(capsys, "--json", "--rules", str(rules))["heartbeats"] if h["instance"] == cluster]
    assert row["overdue"] is True and row["missed"] is False  # judged now; the scheduler has reported nothing
    assert parse_time(row["next_deadline"]) < datetime.now(UTC)
    [line] = [line for line in status(capsys, "--rules", str(rules)).splitlines() if f"/{cluster} " in line]
    assert "OVERDUE (not reported yet)" in line


def test_status_reports_the_dlq_depth(local_settings_of: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sqs = local_settings_of.aws.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=local_settings_of.aws.refs["AlertDeadLetterQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    document = status(capsys, "--json")
    assert document["dlq"]["approximate_messages"] == int(attributes["ApproximateNumberOfMessages"])
    assert isinstance(document["dlq"]["in_flight"], int)
    [line] = [line for line in status(capsys).splitlines() if line.startswith("dlq")]
    assert f"{document['dlq']['approximate_messages']} message(s)" in line


def test_status_with_a_broken_rules_file_is_one_line(
    local_settings_of: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("heartbeats:\n  - name: x\n    interval: soon\n")
    assert cli.main(["status", "--local", "--rules", str(rules)]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("alert-courier: ")


def test_an_unknown_table_is_one_line(local_settings_of: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Moto answers, but the state table is not there (a stack half torn down): one line, exit 1."""
    from alert_courier.operator_tools import local_stack_probe

    original = local_stack_probe.TABLE_NAME
    try:
        local_stack_probe.TABLE_NAME = "no-such-table"
        assert cli.main(["status", "--local"]) == 1
    finally:
        local_stack_probe.TABLE_NAME = original
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("alert-courier: ") and "Traceback" not in line


def test_a_stacks_rules_override_decides_the_heartbeat_deadlines(
    local_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--stack` judges heartbeats by the shipped rules with the stack's RulesParameter override (here in moto's SSM),
    as the scheduler does; an invalid override is said on stderr and the shipped rules are used."""
    import argparse

    name = f"/alert-courier/status-test-{uuid.uuid4().hex[:8]}"
    local_stack.aws.client("ssm").put_parameter(
        Name=name, Type="String", Value="heartbeats:\n  - name: nightly\n    deadline: '03:00'\n"
    )
    deployment = cli.Deployment("q", "dlq", TABLE_NAME, local_stack.aws.endpoint_url, rules_parameter=name)
    rules = cli._deployed_rules(argparse.Namespace(rules=None), deployment)
    assert [spec.name for spec in rules.heartbeats] == ["nightly"] and rules.rules  # the shipped rules stay
    local_stack.aws.client("ssm").put_parameter(Name=name, Type="String", Value="heartbeats: 3\n", Overwrite=True)
    rules = cli._deployed_rules(argparse.Namespace(rules=None), deployment)
    assert [spec.name for spec in rules.heartbeats] == [WATCHDOG]
    assert f"the rules override {name} is invalid" in capsys.readouterr().err
