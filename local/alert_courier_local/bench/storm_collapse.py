"""Storm collapse under the shared call budget (`--only storm500`): 500 distinct new groups fire within one minute,
then all resolve; with a storm rule (`storm: {groups: 20, within: 5m}`), with the same rule and `wait: 10s` (the
first 20 wait, then join the storm at the scheduler's pass: one incident in all), and with none.

Several dispatch containers (threads, each its own MCP client, budget gate and stores, as wired: storm gate in
front of the courier; one DynamoDB table in moto) take the alerts from a shared list; a message whose handling
failed (a budget wait too long, a 429, a conflict) goes back at the end of the list, as an SQS redelivery would.
The simulator runs with its rate limits on. Reported: tool calls in the busiest sliding minute against the budget,
HTTP 429s, incidents opened, and whether every group ended as it should: after the firings, each group has its own
open incident or (beyond the first 20, with the rule) is in the one open storm incident; after the resolves, no
incident is open.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .budget import API_KEY, SECRET_NAME, _busiest_minute, busiest_against_budget

STORM_RULES = """
rules:
  - name: nodes
    match: {labels: {job: node}}
    storm: {groups: 20, within: 5m}
    actions: [open_incident]
"""
WAIT_SECONDS = 10
WAITING_RULES = f"""
rules:
  - name: nodes
    match: {{labels: {{job: node}}}}
    storm: {{groups: 20, within: 5m, wait: {WAIT_SECONDS}s}}
    actions: [open_incident]
"""
PLAIN_RULES = "rules: [{name: nodes, match: {labels: {job: node}}, actions: [open_incident]}]"


def _variant(
    *, rules_text: str, groups: int, containers: int, server_per_minute: int, budget_per_minute: int, timeout: float
) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from alert_courier.aws.api_key import ApiKeySource
    from alert_courier.aws.call_budget_store import DynamoDbCallBudget
    from alert_courier.aws.dynamodb_stores import ActionLedger, DecisionHistory, EscalationTimers, GroupStateStore
    from alert_courier.aws.storm_store import StormStore
    from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
    from alert_courier.domain.errors import ActionBusy, ActionFailed, StaleState
    from alert_courier.domain.rules import parse_rules
    from alert_courier.incident_io.call_budget_gate import BudgetLimits, CallBudgetGate
    from alert_courier.incident_io.mcp_client import IncidentIoMcp
    from alert_courier.use_cases.courier import Courier
    from alert_courier.use_cases.escalation_checks import EscalationChecks
    from alert_courier.use_cases.run_report import RunReport
    from alert_courier.use_cases.storm import StormGate, StormJoins
    from alert_courier.wiring import runner_on
    from alert_courier_local.aws import serialised_dynamodb_in_process
    from alert_courier_local.simulator import SimEvent, start_simulator

    from .dispatch import FakeSecrets

    rules = parse_rules(rules_text)
    run_id = uuid.uuid4().hex[:6]
    started_at = datetime.now(UTC)
    lock = threading.Lock()
    reached: list[float] = []
    throttled: list[float] = []

    def envelope(n: int, status: AlertStatus) -> AlertEnvelope:
        alert = Alert(
            source="alertmanager",
            dedup_key=f"{run_id}-node-{n}",
            group_key=f"{run_id}-group-{n}",
            status=status,
            severity=Severity.ERROR,
            title=f"node {n} down",
            labels={"job": "node", "instance": f"node-{n}"},
            started_at=started_at,
            ended_at=datetime.now(UTC) if status is AlertStatus.RESOLVED else None,
        )
        return AlertEnvelope(alert=alert, correlation_id=f"{run_id}-{n}-{status.value}")

    def on_event(event: SimEvent) -> None:
        if event.kind == "tool":
            limited = event.outcome.startswith("429 rate limit") or (
                event.outcome.startswith("fault") and "429" in event.outcome
            )
            with lock:
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
        clients: list[IncidentIoMcp] = []
        deadline = time.monotonic() + timeout

        def drain(work: deque[AlertEnvelope]) -> None:
            gate = CallBudgetGate(DynamoDbCallBudget(table), BudgetLimits(requests_per_minute=budget_per_minute))
            client = IncidentIoMcp(sim.mcp_url, ApiKeySource(SECRET_NAME, provider=FakeSecrets(API_KEY)), budget=gate)
            with lock:
                clients.append(client)
            states = GroupStateStore(table)
            courier = Courier(states, runner_on(ActionLedger(table), client), DecisionHistory(table), lambda: rules)
            entry = StormGate(courier, StormStore(table), states, lambda: rules)
            while time.monotonic() < deadline:
                with lock:
                    if not work:
                        return
                    message = work.popleft()
                try:
                    entry.handle(message, lambda: 30.0)
                except (ActionFailed, ActionBusy, StaleState):
                    with lock:
                        work.append(message)  # redelivered later, as SQS would
                    time.sleep(0.2)

        def phase(status: AlertStatus) -> float:
            work = deque(envelope(n, status) for n in range(groups))
            began = time.monotonic()
            threads = [threading.Thread(target=drain, args=(work,), daemon=True) for _ in range(containers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout + 30)
            if work:
                raise TimeoutError(f"{len(work)} {status.value} messages left at the timeout")
            return time.monotonic() - began

        fired_seconds = phase(AlertStatus.FIRING)
        waits = "wait:" in rules_text
        if waits:  # the first 20 waited: the scheduler's pass at their wait's end moves them into the storm
            time.sleep(max(0.0, WAIT_SECONDS + 1 - (datetime.now(UTC) - started_at).total_seconds()))
            gate = CallBudgetGate(DynamoDbCallBudget(table), BudgetLimits(requests_per_minute=budget_per_minute))
            client = IncidentIoMcp(sim.mcp_url, ApiKeySource(SECRET_NAME, provider=FakeSecrets(API_KEY)), budget=gate)
            clients.append(client)
            states = GroupStateStore(table)
            checks = EscalationChecks(
                runner=runner_on(ActionLedger(table), client),
                groups=states,
                timers=EscalationTimers(table),
                history=DecisionHistory(table),
                storm_joins=StormJoins(StormStore(table), states, lambda: rules),
            )
            report = RunReport(now=datetime.now(UTC))
            checks.run(report, lambda: 60.0)
            if report.errors:
                raise RuntimeError(f"scheduler pass: {report.errors}")
        after_firing = _incidents(sim)
        resolved_seconds = phase(AlertStatus.RESOLVED)
        after_resolves = _incidents(sim)
        for client in clients:
            client.close()
    storm_incidents = [i for i in after_firing if i["name"].startswith("Alert storm")]
    own = [i for i in after_firing if not i["name"].startswith("Alert storm")]
    expected_own = 0 if "wait:" in rules_text else min(groups, 20) if "storm:" in rules_text else groups
    firing_ok = (
        len(own) == expected_own
        and all(_is_open(i) for i in after_firing)
        and len(storm_incidents) == (1 if "storm:" in rules_text and groups > 20 else 0)
    )
    return {
        "groups": groups,
        "incidents": len(after_firing),
        "storm_incidents": len(storm_incidents),
        "open_after_resolves": sum(1 for i in after_resolves if _is_open(i)),
        "end_state_ok": firing_ok and not any(_is_open(i) for i in after_resolves),
        "busiest_minute_tool_calls": _busiest_minute(reached),
        "within_budget": _busiest_minute(reached) <= budget_per_minute,
        "tool_calls": len(reached),
        "http_429s": len(throttled),
        "firing_seconds": round(fired_seconds, 1),
        "resolve_seconds": round(resolved_seconds, 1),
    }


def _incidents(sim: Any) -> list[dict[str, Any]]:
    return list(sim.simulator.state_snapshot()["incidents"])


def _is_open(incident: dict[str, Any]) -> bool:
    return incident["status_category"] not in ("closed", "declined")


def run(
    *,
    groups: int = 500,
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
    timeout = 60.0 * (2 * groups / max(1, budget_per_minute) + 2)
    for name, rules_text in (
        ("storm rule (20 groups / 5m)", STORM_RULES),
        (f"storm rule, wait {WAIT_SECONDS}s", WAITING_RULES),
        ("no storm rule", PLAIN_RULES),
    ):
        progress(f"storm500: {groups} groups, {containers} containers, {name}")
        section["variants"][name] = _variant(
            rules_text=rules_text,
            groups=groups,
            containers=containers,
            server_per_minute=server_per_minute,
            budget_per_minute=budget_per_minute,
            timeout=timeout,
        )
    return section


def render(section: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"### Storm collapse: {section['containers']} containers, every group fires then resolves, simulator limit "
        f"{section['server_per_minute']}/min, budget {section['budget_per_minute']}/min",
        "",
        "| | groups | incidents (storm) | open after resolves | end state | tool calls "
        "| busiest sliding minute / budget | HTTP 429s | firing s | resolves s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, data in section["variants"].items():
        lines.append(
            f"| {name} | {data['groups']} | {data['incidents']} ({data['storm_incidents']}) | "
            f"{data['open_after_resolves']} | {'correct' if data['end_state_ok'] else '**wrong**'} | "
            f"{data['tool_calls']} | {busiest_against_budget(data, section['budget_per_minute'])} | "
            f"{data['http_429s']} | "
            f"{data['firing_seconds']} | {data['resolve_seconds']} |"
        )
    return lines
