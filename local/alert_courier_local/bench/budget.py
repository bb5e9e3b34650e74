"""The shared call budget under a crowd: several dispatch containers (threads, each its own MCP client, gate and
budget store, one DynamoDB table in moto) open one incident for each of many groups as fast as they can, against
the simulator with its rate limits on. Once with the budget, once without.

A container whose action the budget (or a 429) turned away puts the group back at the end of the work list, as an
SQS redelivery would. Reported: tool calls in the busiest sliding minute next to the budget (with the budget it must
not be above it), 429s the simulator answered, incidents opened against groups (duplicates), whether every group
ended with exactly one incident, and the wall time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

API_KEY = "bench-api-key"
SECRET_NAME = "alert-courier/incident-io-api-key"


def _busiest_minute(times: list[float]) -> int:
    """The most tool calls in any [t, t + 60 s)."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 60.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def _variant(
    *, groups: int, containers: int, server_per_minute: int, budget_per_minute: int, timeout: float
) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from alert_courier.aws.api_key import ApiKeySource
    from alert_courier.aws.call_budget_store import DynamoDbCallBudget
    from alert_courier.aws.dynamodb_stores import ActionLedger
    from alert_courier.domain.actions import OpenIncident
    from alert_courier.domain.alert import Severity
    from alert_courier.domain.errors import ActionBusy, ActionFailed
    from alert_courier.domain.group_state import GroupState
    from alert_courier.incident_io.call_budget_gate import BudgetLimits, CallBudgetGate
    from alert_courier.incident_io.mcp_client import IncidentIoMcp
    from alert_courier.wiring import runner_on
    from alert_courier_local.aws import serialised_dynamodb_in_process
    from alert_courier_local.simulator import SimEvent, start_simulator

    from .dispatch import FakeSecrets

    run_id = uuid.uuid4().hex[:6]
    work = deque(f"{run_id}-group-{n}" for n in range(groups))
    lock = threading.Lock()
    reached: list[float] = []
    throttled: list[float] = []

    def on_event(event: SimEvent) -> None:
        if event.kind == "tool":
            limited = event.outcome.startswith("429 rate limit") or (
                event.outcome.startswith("fault") and "429" in event.outcome
            )
            (throttled if limited else reached).append(time.monotonic())

    with (
        mock_aws(),
        serialised_dynamodb_in_process(),
        start_simulator(port=0, api_keys={API_KEY}, rate_limit_per_minute=server_per_minute, on_event=on_event) as sim,
    ):
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="bench-state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            BillingMode="PAY_PER_REQUEST",
        )
        ledger = ActionLedger(table)
        deadline = time.monotonic() + timeout
        opened: list[str] = []
        clients: list[IncidentIoMcp] = []

        def container() -> None:
            gate = None
            if budget_per_minute:
                gate = CallBudgetGate(DynamoDbCallBudget(table), BudgetLimits(requests_per_minute=budget_per_minute))
            client = IncidentIoMcp(sim.mcp_url, ApiKeySource(SECRET_NAME, provider=FakeSecrets(API_KEY)), budget=gate)
            with lock:
                clients.append(client)
            runner = runner_on(ledger, client)
            while time.monotonic() < deadline:
                with lock:
                    if not work:
                        return
                    group = work.popleft()
                action = OpenIncident(
                    group_id=group,
                    reason="bench",
                    generation=1,
                    name=f"bench {group}",
                    summary="",
                    severity=Severity.CRITICAL,
                    mode="test",
                )
                try:
                    result = runner.perform(action, GroupState(group_id=group), [], lambda: 30.0)
                except (ActionFailed, ActionBusy):
                    with lock:
                        work.append(group)  # redelivered later, as SQS would
                    time.sleep(0.2)
                    continue
                with lock:
                    opened.append(str(result.get("incident_id")))

        started = time.monotonic()
        threads = [threading.Thread(target=container, daemon=True) for _ in range(containers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout + 30)
        wall = time.monotonic() - started
        incidents = len(sim.simulator.state_snapshot()["incidents"])
        for client in clients:
            client.close()
    return {
        "groups": groups,
        "opened": len(set(opened)),
        "incidents_in_simulator": incidents,
        "duplicates": incidents - len(set(opened)),
        "busiest_minute_tool_calls": _busiest_minute(reached),
        "within_budget": not budget_per_minute or _busiest_minute(reached) <= budget_per_minute,
        "http_429s": len(throttled),
        "wall_seconds": round(wall, 1),
        "finished": not work,
        "end_state_ok": not work and incidents == groups == len(set(opened)),
    }


def run(
    *,
    groups: int = 1500,
    containers: int = 4,
    server_per_minute: int = 1200,
    budget_per_minute: int = 1000,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    section: dict[str, Any] = {
        "containers": containers,
        "server_per_minute": server_per_minute,
        "budget_per_minute": budget_per_minute,
        "variants": {},
    }
    timeout = 60.0 * (groups / max(1, budget_per_minute) + 2)
    for name, budget in (("with the budget", budget_per_minute), ("without a budget", 0)):
        progress(f"budget: {groups} groups, {containers} containers, {name}")
        section["variants"][name] = _variant(
            groups=groups,
            containers=containers,
            server_per_minute=server_per_minute,
            budget_per_minute=budget,
            timeout=timeout,
        )
    return section


def render(section: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"### Call budget: {section['containers']} containers opening incidents against the simulator's limit of "
        f"{section['server_per_minute']}/min (budget {section['budget_per_minute']}/min)",
        "",
        "| | groups | incidents (duplicates) | end state | tool calls in the busiest sliding minute / budget "
        "| HTTP 429s | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, data in section["variants"].items():
        done = "" if data["finished"] else " (**unfinished at the timeout**)"
        lines.append(
            f"| {name} | {data['groups']} | {data['incidents_in_simulator']} ({data['duplicates']}){done} | "
            f"{'correct' if data['end_state_ok'] else '**wrong**'} | "
            f"{busiest_against_budget(data, section['budget_per_minute'])} | {data['http_429s']} | "
            f"{data['wall_seconds']} |"
        )
    return lines


def busiest_against_budget(data: dict[str, Any], budget_per_minute: int) -> str:
    """The busiest sliding minute over the budget's figure ("249 / 250"), marked if a variant drawing from the
    budget went above it (a variant without one shows what it would have been held to)."""
    busiest = data["busiest_minute_tool_calls"]
    if data.get("within_budget", True):
        return f"{busiest} / {budget_per_minute}"
    return f"**{busiest} / {budget_per_minute}: above the budget**"
