"""Flap control through the local stack over HTTP: an Alertmanager group flapping 20 times under a rule with
`reopen_within` and `flap` opens one incident, which stays open through the flapping and closes once the group
has been quiet for the rule's `within`. On a stack of its own (tests/own_rules_stack.py: `RULES_FILE=… make run`),
since the session stack runs the shipped rules."""

from __future__ import annotations

import copy
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import load_event, wait_until
from tests.integration.test_pipeline import HEADERS
from tests.own_rules_stack import STABLE_SECONDS, StackProcess

pytestmark = pytest.mark.slow


def flaps(count: int) -> list[dict[str, Any]]:
    """Alertmanager's notifications of one group whose one alert fires and resolves `count` times: each firing
    a new start (as Alertmanager sends it), each resolve its end seven seconds later."""
    sample = load_event("alertmanager/firing.json")
    tag = uuid.uuid4().hex[:8]
    alert = sample["alerts"][0]
    alert = {
        **alert,
        "fingerprint": f"flap-{tag}",
        "labels": {**alert["labels"], "test": "flap"},
        "annotations": {**alert["annotations"], "summary": f"flapping disk {tag}"},  # the incident's name
    }
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


def incidents(stack: StackProcess, tag: str) -> list[dict[str, Any]]:
    every = httpx.get(f"{stack.simulator_url}/_sim/state", timeout=10).json()["incidents"]
    return [incident for incident in every if incident["name"] == f"flapping disk {tag}"]


def test_twenty_flaps_of_one_group_open_one_incident_held_open_then_closed_once_stable(
    own_rules_stack: StackProcess,
) -> None:
    stack = own_rules_stack
    answer = httpx.post(f"{stack.simulator_url}/_sim/faults", json={"allow_reopen": True}, timeout=10)
    assert answer.status_code == 200, answer.text  # incident.io documents no closed -> live move (README)
    notifications = flaps(20)
    for notification in notifications:
        sent = httpx.post(
            f"{stack.front_door_url}/webhooks/alertmanager", json=notification, headers=HEADERS, timeout=30
        )
        assert sent.status_code == 202, sent.text
    wait_until(lambda: stack.queued() == 0, timeout=120, interval=0.5, what="dispatch to take all 40 messages")
    tag = notifications[0]["groupKey"].removeprefix("flap-")

    opened = incidents(stack, tag)  # opened once, closed once, reopened once: never a second incident
    assert len(opened) == 1, [(i["reference"], i["status"]) for i in opened]
    incident = opened[0]
    assert incident["status_category"] != "closed"  # the last resolve is held back: the group is flapping
    summaries = [update.get("summary") or "" for update in incident["updates"]]
    assert sum(summary.startswith("Flapping: ") for summary in summaries) == 1
    assert sum("reopened by alert-courier" in summary for summary in summaries) == 1

    closed = wait_until(
        lambda: [i for i in incidents(stack, tag) if i["status_category"] == "closed"],
        timeout=STABLE_SECONDS + 60,
        interval=1,
        what=f"the scheduler to close the incident once the group has been quiet for {STABLE_SECONDS}s",
    )
    assert [i["id"] for i in closed] == [incident["id"]]
    assert len(incidents(stack, tag)) == 1
    assert any(f"stable: the group has been quiet for {STABLE_SECONDS}s" in line for line in stack.output)
    time.sleep(2)  # two more schedule ticks: nothing further is called for the group
    assert incidents(stack, tag)[0]["updates"] == closed[0]["updates"]
