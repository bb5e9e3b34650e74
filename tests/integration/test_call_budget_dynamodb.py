"""The shared call budget on DynamoDB (moto): exact across concurrent containers, one write a request, a 429 holds
everyone back, and a request the budget turns away is done later, once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alert_courier.aws.call_budget_store import DynamoDbCallBudget
from alert_courier.domain.call_budget import HEADROOM, BucketLimit, Priority
from alert_courier_local.aws import serialised_dynamodb_in_process


class Clock:
    def __init__(self) -> None:
        self.now_ms = 1_764_000_000_000

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def table() -> Iterator[Any]:
    # DynamoDB applies each conditional write atomically; moto in-process does so only when serialised.
    with mock_aws(), serialised_dynamodb_in_process():
        resource = boto3.resource("dynamodb", region_name="eu-west-1")
        created = resource.create_table(
            TableName=f"budget-{uuid.uuid4().hex[:8]}",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield created


def count_calls(table: Any) -> list[str]:
    calls: list[str] = []
    table.meta.client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name), unique_id="count-budget-calls"
    )
    return calls


@pytest.mark.parametrize("priority", list(Priority))
def test_a_full_bucket_admits_exactly_its_share_for_each_priority(table: Any, priority: Priority) -> None:
    clock = Clock()
    budget = DynamoDbCallBudget(table, clock)
    bucket = BucketLimit("requests", 400)  # a burst of 40, then 360 a minute (167 ms a request)
    admitted = 0
    while budget.take(bucket, priority) == 0:
        admitted += 1
    assert admitted == round(40 * (1 - HEADROOM[priority]))
    clock.now_ms += 3_000
    again = 0
    while budget.take(bucket, priority) == 0:
        again += 1
    assert again == 3_000 // bucket.interval_ms


def test_concurrent_containers_together_never_exceed_the_bucket(table: Any) -> None:
    """Six containers (their own store objects, their own threads) race for one bucket of a 60-request burst."""
    clock = Clock()
    bucket = BucketLimit("requests", 600)
    admitted: list[int] = []
    lock = threading.Lock()

    def container() -> None:
        budget = DynamoDbCallBudget(table, clock)
        mine = 0
        refused_in_a_row = 0
        while refused_in_a_row < 3:
            if budget.take(bucket, Priority.PAGE_OR_OPEN) == 0:
                mine += 1
                refused_in_a_row = 0
            else:
                refused_in_a_row += 1
        with lock:
            admitted.append(mine)

    threads = [threading.Thread(target=container) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 60
    assert sum(1 for mine in admitted if mine) > 1  # they really shared it


def test_a_request_costs_one_conditional_write_while_traffic_flows(table: Any) -> None:
    clock = Clock()
    budget = DynamoDbCallBudget(table, clock)
    bucket = BucketLimit("requests", 1200)
    budget.take(bucket, Priority.RESOLVE)  # creates the bucket
    calls = count_calls(table)
    for _ in range(20):
        assert budget.take(bucket, Priority.RESOLVE) == 0
        clock.now_ms += 10  # faster than the 56 ms refill: the bucket's TAT stays ahead of now
    assert calls == ["UpdateItem"] * 20
    assert not any(call in ("GetItem", "Query", "Scan") for call in calls)


def test_after_a_quiet_spell_the_bucket_is_full_again(table: Any) -> None:
    clock = Clock()
    budget = DynamoDbCallBudget(table, clock)
    bucket = BucketLimit("requests", 200)  # a burst of 20
    while budget.take(bucket, Priority.PAGE_OR_OPEN) == 0:
        pass
    clock.now_ms += 120_000
    other = DynamoDbCallBudget(table, clock)  # a container that never saw the bucket
    admitted = 0
    while other.take(bucket, Priority.PAGE_OR_OPEN) == 0:
        admitted += 1
    assert admitted == 20  # full, never more than full


@pytest.mark.parametrize("traffic_before", [0, 3])
def test_a_pause_holds_back_every_container_until_retry_after(table: Any, traffic_before: int) -> None:
    clock = Clock()
    bucket = BucketLimit("requests", 1200)
    first = DynamoDbCallBudget(table, clock)
    for _ in range(traffic_before):  # with and without a bucket item (and a TAT ahead of now) before the 429
        assert first.take(bucket, Priority.PAGE_OR_OPEN) == 0
    first.pause(bucket, 5_000)
    other = DynamoDbCallBudget(table, clock)
    for priority in Priority:
        assert other.take(bucket, priority) == 5_000
        assert first.take(bucket, priority) == 5_000
    clock.now_ms += 2_000
    first.pause(bucket, 10)  # a later, shorter pause never shortens a longer one
    assert other.take(bucket, Priority.PAGE_OR_OPEN) == 3_000
    clock.now_ms += 3_000
    for priority in Priority:
        assert other.take(bucket, priority) == 0
