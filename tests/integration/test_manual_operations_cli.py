"""`alert-courier ack|resolve|forget GROUP --local` through the real command against the session's local stack
(the simulator over HTTP, moto's DynamoDB): each a real effect, once when run twice, recorded in history, and
refused without a terminal unless --yes."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from alert_courier.aws.dynamodb_stores import GroupStateStore
from alert_courier.domain.actions import incident_key
from alert_courier.domain.group_state import state_id_for
from alert_courier.operator_tools import cli
from tests.conftest import REPO_ROOT, wait_until
from tests.integration.test_pipeline import incidents_for, post, queue_depth, resolved_version, sim, unique_notification
from tests.integration.test_status_cli import payments_group, table  # noqa: F401  (a fixture)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    return code, capsys.readouterr().out.strip()


def group_state(stack: Any, firing: dict[str, Any]) -> Any:
    return GroupStateStore(table(stack)).load(state_id_for("alertmanager", firing["groupKey"]))


def critical_group(stack: Any, template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    firing = unique_notification(template)
    assert post(stack, firing).status_code == 202
    [incident] = wait_until(lambda: incidents_for(stack, firing), what="the group's incident")
    wait_until(lambda: queue_depth(stack) == 0, what="both alerts to be decided")
    return firing, incident


def fingerprints(firing: dict[str, Any]) -> set[str]:
    return {alert["fingerprint"] for alert in firing["alerts"]}


def tool_calls(stack: Any) -> dict[str, int]:
    return dict(sim(stack, "stats")["tool_calls"])


def test_ack_acknowledges_the_page_and_cancels_the_pending_level_once(
    local_settings_of: Any,
    payments_group: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = payments_group["groupKey"]
    assert len(group_state(local_settings_of, payments_group).pending_escalations) == 1
    code, line = run(capsys, "ack", group, "--local", "--yes", "--by", "tester", "--reason", "looking")
    [page_id] = group_state(local_settings_of, payments_group).escalation_ids
    assert code == 0, line
    assert line == f"ack group {group!r}: page {page_id} acknowledged; 1 pending escalation level(s) cancelled"
    [page] = [page for page in sim(local_settings_of, "state")["escalations"] if page["id"] == page_id]
    assert page["status"] == "acked"
    assert group_state(local_settings_of, payments_group).pending_escalations == []
    responded = tool_calls(local_settings_of).get("escalation_respond", 0)
    code, line = run(capsys, "ack", group, "--local", "--yes", "--by", "tester", "--json")
    assert (
        code == 0
        and json.loads(line)["line"] == f"ack group {group!r}: page {page_id} acknowledged (already done: remembered)"
    )
    assert "local-dev-api-key" not in line  # the key it called incident.io with
    assert tool_calls(local_settings_of).get("escalation_respond", 0) == responded
    code, out = run(capsys, "history", group, "--local", "--json")
    manual = [entry["manual"] for entry in json.loads(out) if entry.get("manual")]
    assert manual[0] == {"operation": "ack", "by": "tester", "reason": "looking"} and len(manual) == 4  # 2 alerts × 2


def test_resolve_by_incident_reference_closes_it_once_and_the_real_resolve_finds_nothing_open(
    local_settings_of: Any,
    alertmanager_firing: dict[str, Any],
    alertmanager_resolved: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    firing, incident = critical_group(local_settings_of, alertmanager_firing)
    code, line = run(capsys, "resolve", incident["reference"], "--local", "--yes")
    assert code == 0 and line.startswith(f"resolve group {firing['groupKey']!r}: incident {incident['id']} resolved")
    assert incidents_for(local_settings_of, firing)[0]["status_category"] == "closed"
    updates = tool_calls(local_settings_of)["incident_update"]
    code, line = run(capsys, "resolve", incident["reference"], "--local", "--yes")
    assert code == 0 and line.endswith("nothing to resolve: the group has no open episode")
    assert post(local_settings_of, resolved_version(firing, alertmanager_resolved)).status_code == 202
    wait_until(lambda: queue_depth(local_settings_of) == 0, what="the real resolve to be decided")
    assert tool_calls(local_settings_of)["incident_update"] == updates
    code, out = run(capsys, "history", incident["reference"], "--local", "--json")
    last = {entry["dedup_key"]: entry for entry in json.loads(out)}  # oldest first: each key's last decision
    assert last[firing["groupKey"]]["manual"]["operation"] == "resolve"  # the second run: no alert was firing
    del last[firing["groupKey"]]
    assert {key: entry["reasons"][-1] for key, entry in last.items()} == dict.fromkeys(
        fingerprints(firing), "resolved for an alert that is not firing here"
    )


def test_forget_calls_nothing_and_the_next_firing_opens_a_new_incident(
    local_settings_of: Any,
    alertmanager_firing: dict[str, Any],
    alertmanager_resolved: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    firing, _ = critical_group(local_settings_of, alertmanager_firing)
    before = tool_calls(local_settings_of)
    code, line = run(capsys, "forget", firing["groupKey"], "--local", "--yes", "--json")
    assert code == 0 and json.loads(line)["changed"] is True
    assert tool_calls(local_settings_of) == before
    assert group_state(local_settings_of, firing).firing == {}
    again = copy.deepcopy(firing)  # the alerts fire again (had they stayed known, they would join the incident)
    for alert in again["alerts"]:
        alert["startsAt"] = (datetime.fromisoformat(alert["startsAt"]) + timedelta(minutes=1)).isoformat()
    assert post(local_settings_of, again).status_code == 202
    second = incident_key(state_id_for("alertmanager", firing["groupKey"]), 2)
    wait_until(
        lambda: [i for i in sim(local_settings_of, "state")["incidents"] if second in json.dumps(i["arguments"])],
        what="a second incident",
    )
    wait_until(lambda: queue_depth(local_settings_of) == 0, what="the queue to drain")
    assert group_state(local_settings_of, firing).generation == 2
    resolved = resolved_version(again, alertmanager_resolved)
    for alert, fired in zip(resolved["alerts"], again["alerts"], strict=True):
        alert["startsAt"] = fired["startsAt"]  # ends the second episode's firings (else the resolve is stale)
    assert post(local_settings_of, resolved).status_code == 202
    wait_until(
        lambda: group_state(local_settings_of, firing).incident_open is False, what="the second incident to close"
    )


def test_resolve_of_a_payments_group_resolves_its_alert_events_and_its_incident(
    local_settings_of: Any,
    payments_group: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, line = run(capsys, "resolve", payments_group["groupKey"], "--local", "--yes")
    assert code == 0, line
    state = sim(local_settings_of, "state")
    keys = {f"alertmanager:{fingerprint}" for fingerprint in fingerprints(payments_group)}
    mine = [alert for alert in state["alerts"] if alert["deduplication_key"] in keys]
    assert len(mine) == 2 and {alert["status"] for alert in mine} == {"resolved"}
    assert incidents_for(local_settings_of, payments_group)[0]["status_category"] == "closed"
    assert group_state(local_settings_of, payments_group).pending_escalations == []


def test_without_a_terminal_and_without_yes_nothing_is_done(
    local_stack: Any,
    payments_group: dict[str, Any],  # noqa: F811
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOCAL_", "AWS_"))}
    env["LOCAL_AWS_PORT"] = str(urlsplit(local_stack.aws.endpoint_url).port)
    completed = subprocess.run(
        [sys.executable, "-m", "alert_courier.operator_tools.cli", "ack", payments_group["groupKey"], "--local"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1 and "Traceback" not in completed.stderr
    [line] = completed.stderr.strip().splitlines()
    assert "refusing to ack without confirmation" in line and "--yes" in line
    assert len(group_state(local_stack, payments_group).pending_escalations) == 1


def test_an_unknown_group_is_one_line(local_settings_of: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["resolve", "no-such-group", "--local", "--yes"]) == 1
    assert "no alert group 'no-such-group'" in capsys.readouterr().err
