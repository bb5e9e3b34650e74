"""The call budget's arithmetic (a GCRA token bucket with per-priority headroom) and the gate every request passes."""

from __future__ import annotations

import heapq

import pytest

from alert_courier.domain.call_budget import (
    HEADROOM,
    BucketLimit,
    Priority,
    calls_for,
    current_priority,
    priority_of,
)
from alert_courier.incident_io.call_budget_gate import BudgetLimits, CallBudgetGate
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError


class BucketInMemory:
    """The port over a dict, with the store's semantics (one TAT per bucket, taken only when admitted)."""

    def __init__(self) -> None:
        self.now_ms = 1_000_000
        self.tat: dict[str, int] = {}
        self.paused: list[tuple[str, int]] = []
        self.paused_until: dict[str, int] = {}

    def take(self, bucket: BucketLimit, priority: Priority) -> int:
        if (paused_until := self.paused_until.get(bucket.name, 0)) > self.now_ms:
            return paused_until - self.now_ms
        tat = max(self.tat.get(bucket.name, 0), self.now_ms)
        wait = bucket.wait_ms(tat, self.now_ms, priority)
        if wait == 0:
            self.tat[bucket.name] = tat + bucket.interval_ms
        return wait

    def pause(self, bucket: BucketLimit, retry_after_ms: int) -> None:
        self.paused.append((bucket.name, retry_after_ms))
        until = self.now_ms + retry_after_ms
        self.paused_until[bucket.name] = max(self.paused_until.get(bucket.name, 0), until)

    def sleep(self, seconds: float) -> None:
        self.now_ms += round(seconds * 1000)


def admitted_at_once(budget: BucketInMemory, bucket: BucketLimit, priority: Priority) -> int:
    count = 0
    while budget.take(bucket, priority) == 0:
        count += 1
    return count


@pytest.mark.parametrize("per_minute", [60, 250, 1000, 1200])
def test_a_full_bucket_admits_a_tenth_of_the_limit_at_once_to_pages_and_less_to_each_lower_class(
    per_minute: int,
) -> None:
    bucket = BucketLimit("requests", per_minute)
    assert bucket.burst == per_minute // 10
    for priority in Priority:
        budget = BucketInMemory()
        expected = round(bucket.burst * (1 - HEADROOM[priority]))
        assert admitted_at_once(budget, bucket, priority) == pytest.approx(expected, abs=1)


def test_an_emptied_bucket_refills_at_nine_tenths_of_the_limit_and_lower_classes_wait_longer() -> None:
    bucket = BucketLimit("requests", 1200)  # a burst of 120, then 1,080 a minute: 56 ms a request
    budget = BucketInMemory()
    admitted_at_once(budget, bucket, Priority.PAGE_OR_OPEN)
    assert budget.take(bucket, Priority.PAGE_OR_OPEN) == bucket.interval_ms
    waits = [budget.take(bucket, priority) for priority in Priority]
    assert waits == sorted(waits) and waits[0] < waits[-1]
    assert waits[Priority.UPDATE] == pytest.approx(0.25 * bucket.tolerance_ms + bucket.interval_ms, abs=2)
    budget.now_ms += 2_000
    assert admitted_at_once(budget, bucket, Priority.PAGE_OR_OPEN) == 2_000 // bucket.interval_ms  # 18/s
    budget.now_ms += 60_000
    assert admitted_at_once(budget, bucket, Priority.PAGE_OR_OPEN) == bucket.burst  # full again: no more


@pytest.mark.parametrize("per_minute", [1, 2, 3, 9])
def test_a_small_bucket_still_serves_every_class(per_minute: int) -> None:
    bucket = BucketLimit("pages", per_minute)
    for priority in Priority:
        assert admitted_at_once(BucketInMemory(), bucket, priority) >= 1


def test_when_requests_are_short_pages_go_before_resolves_and_resolves_before_updates() -> None:
    """A crowd of every class drawing from one bucket for five minutes: each class's share follows its priority."""
    bucket = BucketLimit("requests", 600)
    budget = BucketInMemory()
    admitted = dict.fromkeys(Priority, 0)
    for _ in range(5 * 60 * 10):  # every 100 ms, one request of each class tries
        for priority in Priority:
            if budget.take(bucket, priority) == 0:
                admitted[priority] += 1
        budget.now_ms += 100
    assert admitted[Priority.PAGE_OR_OPEN] >= admitted[Priority.RESOLVE] >= admitted[Priority.UPDATE]
    assert admitted[Priority.PAGE_OR_OPEN] > admitted[Priority.BACKGROUND]
    total = sum(admitted.values())
    assert total <= 5 * 600  # never more than the limit in any minute


def test_under_contention_every_page_goes_first_then_resolves_then_updates_then_background_checks() -> None:
    """A backlog of each class at once, each request waiting as long as the budget tells it and trying again (as
    the gate does), the lowest class asking first. Beyond the first burst (shared as the headroom says), the
    admissions come strictly in priority order: no class goes while a higher one is still waiting."""
    bucket = BucketLimit("requests", 600)
    budget = BucketInMemory()
    waiting: list[tuple[int, int, Priority]] = []
    for priority in sorted(Priority, reverse=True):
        for _ in range(80):
            heapq.heappush(waiting, (budget.now_ms, len(waiting), priority))
    first_moment, admitted = budget.now_ms, []
    while waiting:
        at, order, priority = heapq.heappop(waiting)
        budget.now_ms = at
        if wait := budget.take(bucket, priority):
            heapq.heappush(waiting, (at + wait, order, priority))
        else:
            admitted.append((at, priority))
    burst = [priority for at, priority in admitted if at == first_moment]
    after = [priority for at, priority in admitted if at > first_moment]
    assert len(burst) == bucket.burst and set(burst) == set(Priority)
    assert after == sorted(after)  # pages, then resolves, then updates, then background checks
    assert after.count(Priority.PAGE_OR_OPEN) == 80 - burst.count(Priority.PAGE_OR_OPEN)


def test_actions_map_to_their_priority_and_the_priority_is_scoped_to_the_block() -> None:
    assert priority_of("escalate") is Priority.PAGE_OR_OPEN
    assert priority_of("open_incident") is Priority.PAGE_OR_OPEN
    assert priority_of("resolve_incident") is Priority.RESOLVE
    assert priority_of("update_incident") is Priority.UPDATE
    assert current_priority() is Priority.BACKGROUND
    with calls_for(Priority.RESOLVE):
        assert current_priority() is Priority.RESOLVE
        with calls_for(Priority.PAGE_OR_OPEN):
            assert current_priority() is Priority.PAGE_OR_OPEN
        assert current_priority() is Priority.RESOLVE
    assert current_priority() is Priority.BACKGROUND


def gate_on(budget: BucketInMemory, **limits: float) -> CallBudgetGate:
    return CallBudgetGate(budget, BudgetLimits(**limits), sleep=budget.sleep)  # type: ignore[arg-type]


def test_the_gate_waits_when_it_can_afford_to_and_fails_as_transient_when_it_cannot() -> None:
    budget = BucketInMemory()
    gate = gate_on(budget, requests_per_minute=60, max_wait_seconds=1.5)  # a burst of 6, then one every 1.112 s
    with calls_for(Priority.PAGE_OR_OPEN):
        for _ in range(6):
            gate.admit("incident_create", pages=False, remaining=None)
        started = budget.now_ms
        gate.admit("incident_create", pages=False, remaining=None)  # one interval away: it waits
        assert budget.now_ms - started == 1112
        with pytest.raises(ToolCallError) as short:
            gate.admit("incident_create", pages=False, remaining=lambda: 2.5)  # 0.5 s affordable, 1.1 s needed
    assert short.value.kind is FailureKind.TRANSIENT and short.value.code == "call_budget"
    assert short.value.retry_after == pytest.approx(1.112)
    assert "requests" in str(short.value) and "60/min" in str(short.value)


def test_a_page_draws_from_the_page_bucket_and_the_request_bucket() -> None:
    budget = BucketInMemory()
    gate = gate_on(budget, requests_per_minute=1000, pages_per_minute=30, max_wait_seconds=0)  # a burst of 3
    with calls_for(Priority.PAGE_OR_OPEN):
        for _ in range(3):
            gate.admit("escalation_create", pages=True, remaining=None)
        gate.admit("incident_create", pages=False, remaining=None)  # other requests still go
        with pytest.raises(ToolCallError, match="'pages'"):
            gate.admit("escalation_create", pages=True, remaining=None)
    assert budget.tat["requests"] == 1_000_000 + 4 * BucketLimit("requests", 1000).interval_ms


def test_a_429_pauses_the_shared_bucket_so_no_container_sends_before_its_retry_after() -> None:
    budget = BucketInMemory()
    gate = gate_on(budget, requests_per_minute=1200, max_wait_seconds=0)
    gate.rate_limited(7.0)
    assert budget.paused == [("requests", 7000)]
    other_container = gate_on(budget, requests_per_minute=1200, max_wait_seconds=0)
    for priority in Priority:
        with calls_for(priority), pytest.raises(ToolCallError):
            other_container.admit("incident_create", pages=False, remaining=None)
    budget.now_ms += 7000
    for priority in Priority:
        with calls_for(priority):
            other_container.admit("incident_create", pages=False, remaining=None)
