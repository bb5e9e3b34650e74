"""An alert storm through the whole local pipeline, in a fresh process of its own.

The shape is what Alertmanager does in a storm: every group's notification is re-sent again and again
(each `group_interval` while the group changes, each `repeat_interval` after, and once per replica of an
HA pair) with the same alerts in it, and finally sent as resolved (also more than once). So the storm has
`keys` distinct alerts (dedup keys) in `groups` Alertmanager groups, and `rounds` = alerts / keys sends of
every group: the first rounds firing, the last tenth resolved. Within a round the groups come in a
shuffled order, from several concurrent senders, through the front door (HTTP → API Gateway v2 event →
ingest), SQS FIFO (moto), the SQS poller (2 dispatch workers) and dispatch to the MCP simulator.

What it should cost: one `incident_create` per group and one resolving call per group, whatever the
number of re-sends. The child writes its findings as JSON; `run()` starts it and reads them, so the peak
memory (`ru_maxrss`) is the local stack's own and nothing of the other sections.

Per notification it also counts the SQS messages ingest sent (`AlertQueue.messages_sent`) and dispatch's DynamoDB
calls and write units (`DynamoDbMeter` on dispatch's client), and it times the end state: from the last webhook's
answer until every group's incident is in its final status (closed), polled on the simulator every half second.
"""

from __future__ import annotations

import json
import math
import random
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..dev_credentials import DEV_WEBHOOK_TOKEN
from ..lambda_runtime import function_module_name
from .dynamodb_meter import DynamoDbMeter

HEADERS = {"Authorization": f"Bearer {DEV_WEBHOOK_TOKEN}", "Content-Type": "application/json"}
RESOLVED_SHARE = 0.1
DRAIN_TIMEOUT_FLOOR_SECONDS = 120.0


def plan(alerts: int, keys: int, groups: int) -> dict[str, int]:
    if keys < 1 or groups < 1 or keys % groups:
        raise ValueError(f"--storm-keys ({keys}) must be a positive multiple of --storm-groups ({groups})")
    rounds = max(2, math.ceil(alerts / keys))
    resolved_rounds = max(1, round(rounds * RESOLVED_SHARE))
    return {
        "alerts": rounds * keys,
        "keys": keys,
        "groups": groups,
        "alerts_per_notification": keys // groups,
        "rounds": rounds,
        "firing_rounds": rounds - resolved_rounds,
        "resolved_rounds": resolved_rounds,
        "notifications": rounds * groups,
    }


def notification(group: int, per_group: int, status: str, run_id: str) -> bytes:
    alerts = []
    for member in range(per_group):
        key = group * per_group + member
        instance = f"storm-{key:04d}.prod.example.com:9100"
        alerts.append(
            {
                "status": status,
                "labels": {
                    "alertname": f"StormAlert{group:03d}",
                    "severity": "critical",
                    "job": "node",
                    "instance": instance,
                },
                "annotations": {"summary": f"Storm alert {key} on {instance}", "description": "bench storm"},
                "startsAt": "2026-11-25T03:00:00.000Z",
                "endsAt": "2026-11-25T04:00:00.000Z" if status == "resolved" else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com:9090/graph",
                "fingerprint": f"{run_id}{key:08x}",
            }
        )
    body = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="StormAlert{group:03d}",run="{run_id}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "alert-courier",
        "groupLabels": {"alertname": f"StormAlert{group:03d}"},
        "commonLabels": {"alertname": f"StormAlert{group:03d}", "severity": "critical", "job": "node"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": alerts,
    }
    return json.dumps(body).encode()


class _CountingDispatch:
    """Wraps the dispatch handler the pollers invoke: invocations, records and reported failures."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], Any]) -> None:
        self._handler = handler
        self._lock = threading.Lock()
        self.invocations = 0
        self.records = 0
        self.failures = 0
        self.in_flight = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            self.invocations += 1
            self.records += len(event.get("Records") or [])
            self.in_flight += 1
        try:
            result = self._handler(event, context)
        finally:
            with self._lock:
                self.in_flight -= 1
        with self._lock:
            self.failures += len((result or {}).get("batchItemFailures") or [])
        return result


def _maxrss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def child(out: Path, *, alerts: int, keys: int, groups: int, senders: int, workers: int) -> int:
    """Runs in its own process (see `run`): starts the local stack, storms it, writes JSON to `out`."""
    import httpx

    from alert_courier_local.stack import LocalStack, StackConfig

    shape = plan(alerts, keys, groups)
    run_id = f"{random.randrange(16**6):06x}"
    result: dict[str, Any] = {"plan": shape, "senders": senders, "dispatch_workers": workers}
    started = time.perf_counter()
    stack = LocalStack(
        StackConfig(
            front_door_port=0,
            simulator_port=0,
            aws_port=0,
            quiet=True,
            redelivery_seconds=1,
            dispatch_workers=workers,
        )
    ).start()
    try:
        result["stack_start_seconds"] = round(time.perf_counter() - started, 2)
        result["maxrss_after_start_mb"] = _maxrss_mb()
        counting = _CountingDispatch(stack.functions["DispatchFunction"].handler)
        stack.functions["DispatchFunction"].handler = counting  # the pollers call LocalFunction.handler
        scheduled = _CountingDispatch(stack.functions["SchedulerFunction"].handler)  # its runs, to explain its calls
        stack.functions["SchedulerFunction"].handler = scheduled
        ingest_queue = sys.modules[function_module_name("IngestFunction")].queue
        meter = DynamoDbMeter().attach(sys.modules[function_module_name("DispatchFunction")]._table.meta.client)
        sent_before = ingest_queue.messages_sent
        aws = stack.aws
        assert aws is not None
        sqs = aws.client("sqs")

        def depth(queue: str) -> int:
            attributes = sqs.get_queue_attributes(
                QueueUrl=aws.refs[queue],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            return sum(int(value) for value in attributes.values())

        sim_before = httpx.get(f"{stack.simulator_url}/_sim/stats", timeout=10).json()
        per_group = shape["alerts_per_notification"]
        firing = [notification(g, per_group, "firing", run_id) for g in range(groups)]
        resolved = [notification(g, per_group, "resolved", run_id) for g in range(groups)]
        shuffler = random.Random(8)
        local = threading.local()
        statuses: Counter[int] = Counter()
        accepted = 0
        count_lock = threading.Lock()
        url = f"{stack.front_door_url}/webhooks/alertmanager"

        def send(body: bytes) -> None:
            nonlocal accepted
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(timeout=60)
            answer = client.post(url, content=body, headers=HEADERS)
            with count_lock:
                statuses[answer.status_code] += 1
                if answer.status_code == 202:
                    accepted += int(answer.json().get("accepted", 0))

        def phase(bodies: list[bytes], rounds: int) -> float:
            order = [body for _ in range(rounds) for body in shuffler.sample(bodies, len(bodies))]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(senders) as pool:
                list(pool.map(send, order))
            return time.perf_counter() - t0

        storm_started = time.perf_counter()
        firing_seconds = phase(firing, shape["firing_rounds"])
        # Alertmanager resolves a group after its firing sends; a barrier keeps one group's sends in order.
        resolved_seconds = phase(resolved, shape["resolved_rounds"])
        posted_seconds = time.perf_counter() - storm_started

        def final(incidents: list[dict[str, Any]]) -> bool:
            return len(incidents) == groups and all(i.get("status_category") == "closed" for i in incidents)

        deadline = time.monotonic() + max(DRAIN_TIMEOUT_FLOOR_SECONDS, shape["alerts"] / 20)
        drained = False
        end_state_seconds: float | None = None
        next_look = 0.0
        while time.monotonic() < deadline:
            if end_state_seconds is None and time.monotonic() >= next_look:
                next_look = time.monotonic() + 0.5
                if final(httpx.get(f"{stack.simulator_url}/_sim/state", timeout=30).json().get("incidents", [])):
                    end_state_seconds = time.perf_counter() - storm_started - posted_seconds
            if end_state_seconds is not None and depth("AlertQueue") == 0 and counting.in_flight == 0:
                time.sleep(0.5)  # a redelivery may still become visible
                if depth("AlertQueue") == 0 and counting.in_flight == 0:
                    drained = True
                    break
            time.sleep(0.25)
        wall = time.perf_counter() - storm_started
        dynamodb_calls, write_units = meter.snapshot()
        sqs_sent = ingest_queue.messages_sent - sent_before

        sim_after = httpx.get(f"{stack.simulator_url}/_sim/stats", timeout=10).json()
        state = httpx.get(f"{stack.simulator_url}/_sim/state", timeout=30).json()
        tools = Counter(sim_after["tool_calls"])
        tools.subtract(sim_before["tool_calls"])
        methods = Counter(sim_after["http_requests_by_method"])
        methods.subtract(sim_before["http_requests_by_method"])
        rest = Counter(sim_after.get("rest_requests") or {})
        rest.subtract(sim_before.get("rest_requests") or {})
        ours = list(state.get("incidents", []))  # a fresh stack: every incident is the storm's
        by_status = Counter(str(i.get("status_category")) for i in ours)
        tool_calls = {k: v for k, v in tools.items() if v}
        needed = {"incident_create": groups, "resolve (incident_update)": groups}
        # Dispatch reads an incident only when a resolve is refused (someone may have closed it): none here. The
        # scheduler's reconcile pass reads each incident it holds open, looking for a person's close; locally on
        # every tick of the schedule, on AWS every ReconcileMinutes (default 5).
        checks = tool_calls.get("incident_show", 0)
        result.update(
            {
                "posted": {
                    "requests": sum(statuses.values()),
                    "statuses": {str(k): v for k, v in statuses.items()},
                    "alerts_accepted": accepted,
                    "firing_seconds": round(firing_seconds, 2),
                    "resolved_seconds": round(resolved_seconds, 2),
                    "requests_per_second": round(sum(statuses.values()) / posted_seconds, 1),
                    "alerts_per_second": round(accepted / posted_seconds, 1),
                },
                "drained": drained,
                "wall_seconds": round(wall, 2),
                "drain_after_last_post_seconds": round(wall - posted_seconds, 2),
                "dispatch": {
                    "invocations": counting.invocations,
                    "records": counting.records,
                    "batch_item_failures": counting.failures,
                },
                "dead_lettered": depth("AlertDeadLetterQueue"),
                "incidents_opened": len(ours),
                "incidents_by_status": dict(by_status),
                "tool_calls": tool_calls,
                "tool_calls_total": sum(tool_calls.values()),
                "action_tool_calls_total": sum(tool_calls.values()) - checks,
                "reconcile_checks": {"incident_show": checks, "scheduler_runs": scheduled.invocations},
                "distinct_actions_needed": needed,
                "distinct_actions_needed_total": sum(needed.values()),
                "mcp_http_requests": sim_after["http_requests"] - sim_before["http_requests"],
                "mcp_http_requests_by_method": {k: v for k, v in methods.items() if v},
                "rest_requests": {k: v for k, v in rest.items() if v},
                "maxrss_mb": _maxrss_mb(),
                "sqs_messages_sent": sqs_sent,
                "dispatch_dynamodb": {"calls": dynamodb_calls, "write_units": write_units},
                "end_state_correct": final(ours),
                "end_state_after_last_post_seconds": (
                    None if end_state_seconds is None else round(end_state_seconds, 2)
                ),
            }
        )
    finally:
        stack.stop()
    out.write_text(json.dumps(result, indent=1))
    return 0


def run(
    *,
    alerts: int,
    keys: int,
    groups: int,
    senders: int,
    workers: int,
    out_dir: Path,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    shape = plan(alerts, keys, groups)
    progress(
        f"storm: {shape['alerts']} alerts = {shape['keys']} dedup keys in {shape['groups']} groups × "
        f"{shape['rounds']} sends ({shape['firing_rounds']} firing, {shape['resolved_rounds']} resolved), "
        f"{senders} senders, {workers} dispatch workers (a fresh process; log in {out_dir / 'storm.log'})"
    )
    out = out_dir / "storm.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "alert_courier_local.bench", "--storm-child", str(out)]
    cmd += ["--storm-alerts", str(alerts), "--storm-keys", str(keys), "--storm-groups", str(groups)]
    cmd += ["--storm-senders", str(senders), "--storm-workers", str(workers)]
    timeout = 120 + max(DRAIN_TIMEOUT_FLOOR_SECONDS, shape["alerts"] / 20) + shape["notifications"] / 5
    with (out_dir / "storm.log").open("w") as log:
        # The child's stdout gets Powertools' EMF blobs (see the report), so it goes to the log, not here.
        completed = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    if completed.returncode != 0 or not out.exists():
        tail = (out_dir / "storm.log").read_text(errors="replace").strip().splitlines()[-3:]
        return {"plan": shape, "error": f"the storm process failed ({completed.returncode}): {' | '.join(tail)}"}
    document: dict[str, Any] = json.loads(out.read_text())
    return document
