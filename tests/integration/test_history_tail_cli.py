"""`alert-courier history` lookups and `alert-courier tail` through the real command against the session's local
stack (found through LOCAL_*): by incident reference, group key and printed key; tail's lines, --once, --count
while following, and Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from alert_courier.operator_tools import cli
from tests.conftest import REPO_ROOT, wait_until
from tests.integration.test_pipeline import incidents_for, post, queue_depth, unique_notification


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    return code, capsys.readouterr().out


def fired(stack: Any, template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A unique critical Alertmanager group (two alerts) and the incident the shipped rules open for it."""
    firing = unique_notification(template)
    assert post(stack, firing).status_code == 202
    [incident] = wait_until(lambda: incidents_for(stack, firing), what="the group's incident")
    wait_until(lambda: queue_depth(stack) == 0, what="both alerts to be decided")
    return firing, incident


def fingerprints(firing: dict[str, Any]) -> set[str]:
    return {alert["fingerprint"] for alert in firing["alerts"]}


def test_history_finds_a_groups_decisions_by_incident_reference_group_key_and_printed_key(
    local_settings_of: Any, alertmanager_firing: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    firing, incident = fired(local_settings_of, alertmanager_firing)
    reference = incident["reference"]
    printed = re.search(r"alert-courier key: (\S+)", incident["arguments"]["summary"])
    assert printed is not None
    for key in (reference, reference.lower(), firing["groupKey"], printed.group(1)):
        code, out = run(capsys, "history", key, "--local", "--json")
        entries = json.loads(out)
        assert code == 0 and {entry["dedup_key"] for entry in entries} == fingerprints(firing), key
        assert {entry["incident_reference"] for entry in entries} == {reference}
    code, out = run(capsys, "history", reference, "--local")
    assert code == 0 and out.splitlines()[0].startswith(f"{reference}: incident {reference} (group ")
    code, out = run(capsys, "history", firing["groupKey"], "--local")
    assert out.splitlines()[0] == f"{firing['groupKey']}: group key (alertmanager)"


def test_tail_prints_each_decision_with_its_outcome_and_incident(
    local_settings_of: Any, alertmanager_firing: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    firing, incident = fired(local_settings_of, alertmanager_firing)
    reference = incident["reference"]
    assert post(local_settings_of, firing).status_code == 202  # re-sent as Alertmanager does: repeats
    wait_until(lambda: queue_depth(local_settings_of) == 0, what="the repeat to be decided")
    code, out = run(capsys, "tail", "--local", "--once", "--since", "5m", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    mine = [line for line in lines if line["dedup_key"] in fingerprints(firing)]
    assert code == 0 and sorted(line["decision"] for line in mine) == ["joined", "opened", "repeat", "repeat"]
    assert {line["incident"] for line in mine} == {reference}
    assert {line["group_key"] for line in mine} == {firing["groupKey"]}
    code, out = run(capsys, "tail", "--local", "--once", "--since", "5m")
    [opened] = [line for line in out.splitlines() if " opened " in line and firing["groupKey"] in line]
    assert opened.endswith(f" firing opened open_incident {reference}")


def cli_process(stack: Any, *args: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOCAL_", "AWS_"))}
    env |= {
        "LOCAL_AWS_PORT": str(urlsplit(stack.aws.endpoint_url).port),
        "LOCAL_SIMULATOR_PORT": str(stack.simulator.port),
        "LOCAL_FRONT_DOOR_PORT": str(stack.front_door.port),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "alert_courier.operator_tools.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_tail_follows_new_decisions_until_its_count_and_ctrl_c_exits_cleanly(
    local_stack: Any, alertmanager_firing: dict[str, Any]
) -> None:
    wait_until(lambda: queue_depth(local_stack) == 0, what="earlier tests' alerts to be decided")
    since = datetime.now(UTC).isoformat()  # from here on: only this test's decisions
    follower = cli_process(local_stack, "tail", "--local", "--since", since, "--count", "2", "--interval", "0.2")
    idle = cli_process(local_stack, "tail", "--local", "--since", "0s", "--interval", "0.2")
    try:
        time.sleep(1)  # both are following by now (nothing new yet)
        assert follower.poll() is None and idle.poll() is None
        firing, _ = fired(local_stack, alertmanager_firing)
        out, err = follower.communicate(timeout=60)
        assert follower.returncode == 0, err
        assert len(out.splitlines()) == 2 and all(firing["groupKey"] in line for line in out.splitlines())
        idle.send_signal(signal.SIGINT)
        _, err = idle.communicate(timeout=30)
        assert idle.returncode == 0 and "Traceback" not in err
    finally:
        for process in (follower, idle):
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.mark.parametrize("option", [["--count", "0"], ["--interval", "0"]])
def test_tail_refuses_a_count_or_interval_that_never_ends_in_one_line(
    option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["tail", "--local", *option]) == 1  # refused before looking for the stack
    assert "--count takes a number of decisions" in capsys.readouterr().err
