"""The proof for "nothing lost, nothing doubled": the whole local stack under redeliveries and faults.

Every webhook is delivered 1-3 times, shuffled across groups; the simulator fails 30% of calls transiently,
adds latency and sometimes acts and then never answers; two dispatch workers consume concurrently; some
alerts are rejected permanently. The invariants are asserted with exact counts and printed.
"""

from __future__ import annotations

import copy
import json
import os
import random
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from alert_courier.aws.alert_queue import read_message
from alert_courier.aws.dynamodb_stores import DecisionHistory
from alert_courier.operator_tools.operations import DeadLetterQueue
from tests.conftest import wait_until
from tests.integration.test_pipeline import HEADERS, incidents_for, queue_depth, sim

pytestmark = [pytest.mark.faults, pytest.mark.slow]
GROUPS = 10
REJECTED_GROUPS = 2
PAGED_JOBS = 4
FAULTS = {
    "error_rate": 0.3,
    "latency_ms": 20,
    "act_then_timeout_rate": 0.1,
    "stall_ms": 2500,
    "seed": 7,
    "tool_errors": {
        "incident_create": {
            "status": 422,
            "code": "invalid_value",
            "field": "name",
            "message": "Incident names may not say PermanentlyRejected",
            "when": {"name": "PermanentlyRejected"},
        }
    },
}


def notification(run: str, group: int, status: str, *, rejected: bool = False) -> dict[str, Any]:
    name = "PermanentlyRejected" if rejected else f"Overload{group}"
    alerts = []
    for member in range(2):
        alert: dict[str, Any] = {
            "status": status,
            "labels": {"alertname": name, "severity": "critical", "cluster": f"{run}-{group}", "pod": f"p{member}"},
            "annotations": {"summary": f"{name} in {run}-{group}"},
            "startsAt": "2026-11-25T03:00:00Z",
            "endsAt": "2026-11-25T03:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "fingerprint": f"{run}-{group}-{member}",
        }
        alerts.append(alert)
    return {
        "version": "4",
        "groupKey": f'{{}}:{{cluster="{run}-{group}"}}',
        "status": status,
        "receiver": "alert-courier",
        "groupLabels": {"cluster": f"{run}-{group}"},
        "alerts": alerts,
    }


def job_event(run: str, job: int, action: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": "local-dev-token",
        "event_action": action,
        "dedup_key": f"payments/{run}/job-{job}",
    }
    if action == "trigger":
        event["payload"] = {
            "summary": f"Settlement job {job} failed ({run})",
            "source": "batch-1",
            "severity": "critical",
            "group": "payments",
            "timestamp": "2026-11-25T03:00:00Z",
        }
    return event


def deliveries(rng: random.Random, body: dict[str, Any]) -> list[dict[str, Any]]:
    return [copy.deepcopy(body) for _ in range(rng.randint(1, 3))]


def shuffled_keeping_order(
    rng: random.Random, sequences: list[list[tuple[str, dict[str, Any]]]]
) -> list[tuple[str, dict[str, Any]]]:
    """Interleaves the per-group sequences at random; each group's own order is kept (FIFO per group)."""
    pending = [list(sequence) for sequence in sequences if sequence]
    merged = []
    while pending:
        sequence = rng.choice(pending)
        merged.append(sequence.pop(0))
        if not sequence:
            pending.remove(sequence)
    return merged


def dead_letters(stack: Any) -> list[dict[str, Any]]:
    queue = DeadLetterQueue(
        stack.aws.client("sqs"), stack.aws.refs["AlertDeadLetterQueue"], stack.aws.refs["AlertQueue"]
    )
    return [{"Body": letter.body, "reason": letter.reason} for letter in queue.peek()]


def test_every_accepted_alert_is_acted_on_or_dead_lettered_and_nothing_is_doubled(local_stack: Any) -> None:
    # the run id seeds the shuffle and the deliveries: FAULT_SUITE_RUN=<id> replays a failing run's webhooks
    run = os.environ.get("FAULT_SUITE_RUN") or uuid.uuid4().hex[:6]
    print(f"\nfault suite run id {run} (replay with FAULT_SUITE_RUN={run})")
    rng = random.Random(run)
    sequences: list[list[tuple[str, dict[str, Any]]]] = []
    for group in range(GROUPS + REJECTED_GROUPS):
        rejected = group >= GROUPS
        firing, resolved = notification(run, group, "firing", rejected=rejected), notification(run, group, "resolved")
        sequence = [("alertmanager", body) for body in deliveries(rng, firing) + deliveries(rng, resolved)]
        if rng.random() < 0.5:
            sequence.append(("alertmanager", copy.deepcopy(firing)))  # a late sender retry after the resolve
        sequences.append(sequence)
    for job in range(PAGED_JOBS):
        trigger, resolve = job_event(run, job, "trigger"), job_event(run, job, "resolve")
        sequences.append([("generic", body) for body in deliveries(rng, trigger) + deliveries(rng, resolve)])
    posts = shuffled_keeping_order(rng, sequences)

    httpx.post(f"{local_stack.simulator_url}/_sim/faults", json=FAULTS, timeout=10).raise_for_status()
    accepted_transitions: set[tuple[str, str, str]] = set()
    accepted = 0
    try:
        for source, body in posts:
            answer = httpx.post(
                f"{local_stack.front_door_url}/webhooks/{source}", json=body, headers=HEADERS, timeout=30
            )
            assert answer.status_code == 202, answer.text
            accepted += answer.json()["accepted"]
            if source == "alertmanager":
                accepted_transitions |= {(source, a["fingerprint"], a["status"]) for a in body["alerts"]}
            else:
                status = "firing" if body["event_action"] == "trigger" else "resolved"
                accepted_transitions.add((source, body["dedup_key"], status))

        def settled() -> bool:
            return queue_depth(local_stack) == 0

        wait_until(settled, timeout=240, interval=0.5, what="every message to be acted on or dead-lettered")
    finally:
        httpx.post(f"{local_stack.simulator_url}/_sim/faults", json={}, timeout=10)

    state = sim(local_stack, "state")
    stats = sim(local_stack, "stats")
    letters = [m for m in dead_letters(local_stack) if run in m["Body"]]

    # 1. Nothing lost: each accepted transition was decided (history without error) or sits in the DLQ.
    import boto3

    table = boto3.resource("dynamodb", endpoint_url=local_stack.aws.endpoint_url, region_name="us-east-1").Table(
        local_stack.aws.refs["StateTable"]
    )
    history = DecisionHistory(table)
    dead = {(e.alert.source, e.alert.dedup_key, e.alert.status.value) for m in letters for e in read_message(m["Body"])}
    decided = set()
    for source, key, status in accepted_transitions:
        if any(entry["status"] == status and not entry["error"] for entry in history.read(source, key)):
            decided.add((source, key, status))
    lost = accepted_transitions - decided - dead
    assert not lost, (
        f"lost: {sorted(lost)}: "
        + json.dumps(
            {
                key: [(e["status"], e["error"], e["reasons"][-1:]) for e in history.read(source, key)]
                for source, key, _ in lost
            },
            default=str,
        )[:3000]
        + f" dead-lettered: {sorted(dead)}"
    )

    # 2. Nothing doubled: one incident per group that should open one, each resolved; none for rejected ones.
    for group in range(GROUPS):
        body = notification(run, group, "firing")
        mine = incidents_for(local_stack, body)
        assert len(mine) == 1, (group, mine)
        assert mine[0]["status_category"] == "closed"
    for group in range(GROUPS, GROUPS + REJECTED_GROUPS):
        assert incidents_for(local_stack, notification(run, group, "firing", rejected=True)) == []
    rejected_letters = [m for m in letters if "PermanentlyRejected" in m["Body"]]
    assert {m["reason"].split(":")[0] for m in rejected_letters} == {
        "permanent incident_create 422 invalid_value field=name"
    }
    assert len({e.alert.group_key for m in rejected_letters for e in read_message(m["Body"])}) == REJECTED_GROUPS

    # 3. Pages: exactly one executed escalation, one incident and one alert event per paged job; none doubled.
    # A trigger can exhaust the queue's receives (maxReceiveCount 5: at a 30% error rate a page's draft → execute
    # fails 4 receives in a row about once in 20 runs, 5 rarely) and is dead-lettered, as part 1 allows; its
    # job's resolve then ends the episode and drops the page by design (nobody is paged for what has recovered,
    # said in the history). Such a job has no page (or the one its last attempt sent), its trigger in the dead
    # letters, and that note.
    jobs = {f"Settlement job {job} failed ({run})": f"payments/{run}/job-{job}" for job in range(PAGED_JOBS)}

    def per_job(items: list[dict[str, Any]]) -> Counter[str]:
        return Counter(
            key for item in items for title, key in jobs.items() if title in json.dumps(item) or key in json.dumps(item)
        )

    escalations, incidents, alert_events = (per_job(state[kind]) for kind in ("escalations", "incidents", "alerts"))
    expected = Counter(dict.fromkeys(jobs.values(), 1))
    trigger_dead_lettered = sorted(key for key in jobs.values() if ("generic", key, "firing") in dead)
    # (its last attempt may have paged before its answer was lost: at most one then, never two)
    expected_pages = Counter(
        {key: min(escalations[key], 1) if key in trigger_dead_lettered else 1 for key in jobs.values()}
    )
    # what each job went through: its decisions (with their errors and last reasons) and its dead letters
    job_story = {
        key: {
            "history": [
                (e["status"], e["error"], [a["kind"] for a in e["actions"]], e["reasons"][-1:])
                for e in history.read("generic", key)
            ],
            "dead_lettered": sorted({m["reason"] for m in letters if key in m["Body"]}),
        }
        for key in jobs.values()
    }
    assert (escalations, incidents, alert_events) == (expected_pages, expected, expected), (
        f"escalations {dict(escalations)}, incidents {dict(incidents)}, alert events {dict(alert_events)}; "
        + json.dumps([e for e in state["escalations"] if run in json.dumps(e)])[:3000]
        + " jobs: "
        + json.dumps(job_story, default=str)[:6000]
    )
    for key in trigger_dead_lettered:
        assert any(
            reason.startswith("redriven by SQS after repeated transient failures")
            for reason in job_story[key]["dead_lettered"]
        ), job_story[key]
        assert any(
            entry["status"] == "resolved"
            and any(reason.startswith("page dropped: escalate level 0") for reason in entry["reasons"])
            for entry in history.read("generic", key)
        ), job_story[key]
    job_escalations = [e for e in state["escalations"] if any(title in json.dumps(e) for title in jobs)]
    assert {e["status"] for e in job_escalations} == {"triggered"}

    print(
        f"\nfault suite {run}: {len(posts)} webhooks, {accepted} alerts accepted, "
        f"{len(accepted_transitions)} distinct transitions: {len(decided)} acted on + {len(dead)} dead-lettered "
        f"(lost {len(lost)}); incidents {GROUPS} groups + {PAGED_JOBS} jobs = "
        f"{sum(len(incidents_for(local_stack, notification(run, g, 'firing'))) for g in range(GROUPS))} + "
        f"{sum(incidents.values())}; pages {sum(escalations.values())}; tool calls {stats['tool_calls']}; "
        f"failed attempts per job: {[sum(1 for e in job_story[key]['history'] if e[1]) for key in jobs.values()]}; "
        f"triggers dead-lettered (no page, by design): {trigger_dead_lettered}"
    )
