"""Flap control through the local stack over HTTP: an Alertmanager group flapping 20 times under a rule with
`reopen_within` and `flap` opens one incident, which stays open through the flapping and closes once the group
has been quiet for the rule's `within`.

The session stack runs the shipped rules, so this starts a stack of its own, as a user would with other rules:
`RULES_FILE=flap-rules.yaml make run` (on ephemeral ports, read from its start-up lines).
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from tests.conftest import REPO_ROOT, load_event, wait_until
from tests.integration.test_pipeline import HEADERS

pytestmark = pytest.mark.slow

STABLE_SECONDS = 30  # the rule's flap.within: short, so that the test can watch the held-open incident close
FLAP_RULES = f"""
version: 1
rules:
  - name: flappy
    match: {{labels: {{alertname: DiskFull}}}}
    reopen_within: 30m
    flap: {{changes: 4, within: {STABLE_SECONDS}s}}
    actions: [{{open_incident: {{per: group, on_resolve: resolve}}}}]
"""


@dataclass
class StackProcess:
    front_door_url: str
    simulator_url: str
    aws_endpoint: str
    output: list[str]


@pytest.fixture(scope="module")
def flap_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """`python -m alert_courier_local` (what `make run` runs) with RULES_FILE, its scheduler ticking every second."""
    rules = tmp_path_factory.mktemp("flap-rules") / "rules.yaml"
    rules.write_text(FLAP_RULES)
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("LOCAL_", "AWS_"))}
    environ |= {
        "RULES_FILE": str(rules),
        "LOCAL_FRONT_DOOR_PORT": "0",
        "LOCAL_SIMULATOR_PORT": "0",
        "LOCAL_AWS_PORT": "0",
        "LOCAL_SCHEDULE_SECONDS": "1",
        "LOCAL_REDELIVERY_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "alert_courier_local"],
        cwd=REPO_ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    up = threading.Event()

    def read() -> None:  # the stack prints a line per webhook and tool call: keep its pipe drained
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if line.startswith("Ctrl-C stops it."):
                up.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not up.wait(60):
            pytest.fail("the local stack did not start:\n" + "\n".join(output))
        banner = "\n".join(output)

        def url(label: str) -> str:
            found = re.search(rf"^  {label}\s+(http://[^\s/]+)", banner, re.MULTILINE)
            assert found, banner
            return found.group(1)

        yield StackProcess(url("front door"), url("incident.io"), url(r"moto \(AWS\)"), output)
    finally:
        process.send_signal(signal.SIGTERM)  # the stack stops itself on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def flaps(count: int) -> list[dict[str, Any]]:
    """Alertmanager's notifications of one group whose one alert fires and resolves `count` times: each firing
    a new start (as Alertmanager sends it), each resolve its end seven seconds later."""
    sample = load_event("alertmanager/firing.json")
    tag = uuid.uuid4().hex[:8]
    alert = {**sample["alerts"][0], "fingerprint": f"flap-{tag}"}
    base = datetime.now(UTC) - timedelta(minutes=6)
    notifications = []
    for flap in range(count):
        started = base + timedelta(seconds=15 * flap)
        for status, ended in (("firing", None), ("resolved", started + timedelta(seconds=7))):
            notification = copy.deepcopy(sample)
            notification |= {"groupKey": f"flap-{tag}", "status": status}
            notification["alerts"] = [
                {
                    **alert,
                    "status": status,
                    "startsAt": started.isoformat().replace("+00:00", "Z"),
                    "endsAt": (ended.isoformat().replace("+00:00", "Z") if ended else "0001-01-01T00:00:00Z"),
                }
            ]
            notifications.append(notification)
    return notifications


def queued(stack: StackProcess) -> int:
    """Messages on the stack's alert queue and its DLQ, in flight or waiting (0: dispatch has done everything)."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    total = 0
    for queue_url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        total += sum(int(count) for count in attributes.values())
    return total


def incidents(stack: StackProcess) -> list[dict[str, Any]]:
    return list(httpx.get(f"{stack.simulator_url}/_sim/state", timeout=10).json()["incidents"])


def test_twenty_flaps_of_one_group_open_one_incident_held_open_then_closed_once_stable(
    flap_stack: StackProcess,
) -> None:
    answer = httpx.post(f"{flap_stack.simulator_url}/_sim/faults", json={"allow_reopen": True}, timeout=10)
    assert answer.status_code == 200, answer.text  # incident.io documents no closed -> live move (README)
    for notification in flaps(20):
        sent = httpx.post(
            f"{flap_stack.front_door_url}/webhooks/alertmanager", json=notification, headers=HEADERS, timeout=30
        )
        assert sent.status_code == 202, sent.text
    wait_until(lambda: queued(flap_stack) == 0, timeout=120, interval=0.5, what="dispatch to take all 40 messages")

    opened = incidents(flap_stack)  # opened once, closed once, reopened once: never a second incident
    assert len(opened) == 1, [(i["reference"], i["status"]) for i in opened]
    incident = opened[0]
    assert incident["status_category"] != "closed"  # the last resolve is held back: the group is flapping
    summaries = [update.get("summary") or "" for update in incident["updates"]]
    assert sum(summary.startswith("Flapping: ") for summary in summaries) == 1
    assert sum("reopened by alert-courier" in summary for summary in summaries) == 1

    closed = wait_until(
        lambda: [i for i in incidents(flap_stack) if i["status_category"] == "closed"],
        timeout=STABLE_SECONDS + 60,
        interval=1,
        what=f"the scheduler to close the incident once the group has been quiet for {STABLE_SECONDS}s",
    )
    assert [i["id"] for i in closed] == [incident["id"]]
    assert len(incidents(flap_stack)) == 1
    assert any(f"stable: the group has been quiet for {STABLE_SECONDS}s" in line for line in flap_stack.output)
    time.sleep(2)  # two more schedule ticks: nothing further is called for the group
    assert incidents(flap_stack)[0]["updates"] == closed[0]["updates"]
