"""The model-based end-state test (tests/end_state_model.py), smaller profile, on the real adapters: DynamoDB
stores through moto (conditional writes, timers), incident.io through the MCP client over HTTP to the simulator.

Crashes are left to the in-memory profile: the DynamoDB ledger's leases run on the wall clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, settings
from moto import mock_aws
from pydantic import SecretStr

from alert_courier.aws.dynamodb_stores import (
    ActionLedger,
    DecisionHistory,
    EscalationTimers,
    GroupStateStore,
    HeartbeatStore,
)
from alert_courier.aws.inhibition_store import InhibitionStore
from alert_courier.aws.maintenance_store import MaintenanceStore
from alert_courier.aws.storm_store import StormStore
from alert_courier.incident_io.mcp_client import IncidentIoMcp
from alert_courier_local.aws import serialised_dynamodb_in_process
from alert_courier_local.simulator import RunningSimulator, start_simulator
from tests.end_state_model import RULES, T0, EndStateMachine
from tests.fakes import DrivenClock, ScriptedTools, World

API_KEY = "end-state-model-api-key"
pytestmark = pytest.mark.slow


class StaticKey:
    def get(self, *, fresh: bool = False) -> SecretStr:
        return SecretStr(API_KEY)


class Adapters:
    sim: RunningSimulator
    client: IncidentIoMcp
    dynamodb: Any


def new_table(dynamodb: Any) -> Any:
    return dynamodb.create_table(
        TableName=f"end-state-{uuid.uuid4().hex[:10]}",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


class AwsEndStates(EndStateMachine):
    faults = ("transient", "permanent", "lost")
    adapters = Adapters()

    def make_world(self, keyed: bool) -> World:
        sim = self.adapters.sim
        sim.simulator.reset()
        table = new_table(self.adapters.dynamodb)
        states = GroupStateStore(table)
        return World(
            RULES,
            clock=DrivenClock(T0),
            tools=ScriptedTools(self.adapters.client, sim.simulator),
            states=states,
            history=DecisionHistory(table),
            heartbeats=HeartbeatStore(table),
            ledger=ActionLedger(table),
            timers=EscalationTimers(table),
            windows=MaintenanceStore(table),
            inhibition=InhibitionStore(table),
            storms=StormStore(table),
        )


AwsEndStates.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.fixture
def adapters(monkeypatch: pytest.MonkeyPatch) -> Iterator[Adapters]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # in-process moto, not the session stack's server
    sim = start_simulator(
        port=0, api_keys={API_KEY}, rate_limit_per_minute=1_000_000, escalation_limit_per_minute=1_000_000
    )
    client = IncidentIoMcp(sim.mcp_url, StaticKey(), call_timeout_seconds=10)
    try:
        with mock_aws(), serialised_dynamodb_in_process():
            AwsEndStates.adapters.sim = sim
            AwsEndStates.adapters.client = client
            AwsEndStates.adapters.dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
            yield AwsEndStates.adapters
    finally:
        client.close()
        sim.stop()


def test_end_states_on_dynamodb_and_the_simulator_over_http(adapters: Adapters) -> None:
    AwsEndStates.TestCase().runTest()
