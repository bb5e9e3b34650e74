"""The call budget in front of real MCP traffic (the simulator over HTTP, the bucket in moto's DynamoDB): a request
the budget turns away never reaches the server, a 429 holds every container back, and an action that had to wait
is done later exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from alert_courier.aws.call_budget_store import DynamoDbCallBudget
from alert_courier.domain.actions import OpenIncident
from alert_courier.domain.alert import Severity
from alert_courier.domain.call_budget import Priority, calls_for
from alert_courier.domain.errors import ActionFailed
from alert_courier.domain.group_state import GroupState
from alert_courier.incident_io.call_budget_gate import BudgetLimits, CallBudgetGate
from alert_courier.incident_io.mcp_client import IncidentIoMcp
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError
from alert_courier.wiring import runner_on
from alert_courier_local.simulator import RunningSimulator, start_simulator
from tests.fakes import InMemoryLedger
from tests.integration import test_mcp_client as mcp_tests
from tests.integration.test_mcp_client import API_KEY, SECRET_NAME, FakeClock, Meter, SecretReads, set_faults


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    running = start_simulator(port=0, api_keys={API_KEY})
    yield running
    running.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=f'{{"api_key": "{API_KEY}"}}')
        yield


@pytest.fixture
def table(moto_aws: None) -> Any:
    key = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    attributes = [{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk")]
    return boto3.resource("dynamodb").create_table(
        TableName=f"budget-{uuid.uuid4().hex[:8]}",  # another test may leave a mock active
        KeySchema=key,
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def containers(simulator: RunningSimulator, clock: FakeClock, table: Any) -> Iterator[Any]:
    """Makes MCP clients as separate containers would have them: each its own gate and store, one shared bucket."""
    httpx.post(f"{simulator.url}/_sim/reset", timeout=10).raise_for_status()
    secrets = SecretReads()
    made: list[IncidentIoMcp] = []

    def container(attempts: int = 4, **limits: Any) -> IncidentIoMcp:
        budget = DynamoDbCallBudget(table, clock_ms=lambda: round(clock.now * 1000))
        client = IncidentIoMcp(
            simulator.mcp_url,
            secrets.source(),
            call_timeout_seconds=2.0,
            policy=mcp_tests.policy(max_attempts=attempts),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            budget=CallBudgetGate(budget, BudgetLimits(**limits), sleep=clock.sleep),
        )
        client.input_schemas()  # connected, as a warm container is
        made.append(client)
        return client

    yield container
    for client in made:
        client.close()


def test_a_request_the_budget_turns_away_never_reaches_incident_io(
    simulator: RunningSimulator, containers: Any
) -> None:
    client = containers(requests_per_minute=30, max_wait_seconds=0)  # a burst of 3
    meter = Meter(simulator)
    with calls_for(Priority.PAGE_OR_OPEN):
        for _ in range(3):
            client.call_tool("incident_list", {})
        with pytest.raises(ToolCallError) as short:
            client.call_tool("incident_list", {})
    assert (short.value.kind, short.value.code) == (FailureKind.TRANSIENT, "call_budget")
    assert meter.delta()["tool_calls"] == {"incident_list": 3}


def test_a_429_holds_back_every_container_until_its_retry_after(
    simulator: RunningSimulator, containers: Any, clock: FakeClock
) -> None:
    first, second = containers(attempts=1), containers(max_wait_seconds=0)
    set_faults(simulator, status_429=1, retry_after=3)
    meter = Meter(simulator)
    with calls_for(Priority.PAGE_OR_OPEN), pytest.raises(ToolCallError) as limited:
        first.call_tool("incident_list", {})
    assert limited.value.status == 429
    assert meter.delta()["tool_calls"] == {"incident_list": 1}
    meter.start()
    with calls_for(Priority.RESOLVE), pytest.raises(ToolCallError, match="call budget"):
        second.call_tool("incident_list", {})  # another container, before the 429's Retry-After has passed
    assert meter.delta()["tool_calls"] == {}
    clock.now += 3.0
    with calls_for(Priority.RESOLVE):
        second.call_tool("incident_list", {})
    assert meter.delta()["tool_calls"] == {"incident_list": 1}


def test_an_action_the_budget_made_wait_is_done_later_exactly_once(
    simulator: RunningSimulator, containers: Any, clock: FakeClock
) -> None:
    client = containers(requests_per_minute=20, max_wait_seconds=1)  # a burst of 2, then one every 3.3 s
    runner = runner_on(InMemoryLedger(clock=lambda: clock.now), client)
    with calls_for(Priority.BACKGROUND):  # something else spent the bucket
        client.call_tool("incident_list", {})
    action = OpenIncident(
        group_id="g1", reason="firing", generation=1, name="Disk full", summary="", severity=Severity.CRITICAL
    )
    state = GroupState(group_id="g1")
    # incident_create needs two requests (the organisation document and the call): the second must wait 3.3 s.
    with pytest.raises(ActionFailed) as waited:
        runner.perform(action, state, [], None)
    assert not waited.value.permanent and not waited.value.ambiguous
    assert mcp_tests.incidents(simulator) == []
    clock.now += 60
    opened = runner.perform(action, state, [], None)
    again = runner.perform(action, state, [], None)  # a redelivery: remembered, not re-sent
    assert again["remembered"] and again["incident_id"] == opened["incident_id"]
    assert len(mcp_tests.incidents(simulator)) == 1
