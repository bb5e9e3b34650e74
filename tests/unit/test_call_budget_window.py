"""The call budget's promise, on the pure arithmetic: whatever the request times and classes, no 60 s window admits
more than the configured per-minute limit, and what it admits never empties incident.io's bucket of that size."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alert_courier.domain.call_budget import BucketLimit, Priority
from tests.unit.test_call_budget import BucketInMemory

WINDOW_MS = 60_000


def busiest_window(times_ms: list[int]) -> int:
    """The most requests in any [t, t + 60 s): the busiest such window starts at a request."""
    times_ms = sorted(times_ms)
    best, start = 0, 0
    for end, moment in enumerate(times_ms):
        while moment - times_ms[start] >= WINDOW_MS:
            start += 1
        best = max(best, end - start + 1)
    return best


def admitted_times(limit: int, arrivals: list[tuple[int, int, Priority]]) -> list[int]:
    """Each arrival: after `gap` ms, `count` requests of one class try the bucket; the admitted ones' times."""
    bucket = BucketLimit("requests", limit)
    budget = BucketInMemory()
    admitted: list[int] = []
    for gap, count, priority in arrivals:
        budget.now_ms += gap
        for _ in range(count):
            if budget.take(bucket, priority) == 0:
                admitted.append(budget.now_ms)
    return admitted


def refused_by_incident_io(limit: int, times_ms: list[int]) -> int:
    """incident.io's documented shape: `limit` tokens, refilled at `limit` a minute, starting full (exact: one
    token is 60,000 units, and a millisecond refills `limit` units)."""
    capacity = limit * WINDOW_MS
    tokens, last, refused = capacity, None, 0
    for moment in sorted(times_ms):
        if last is not None:
            tokens = min(capacity, tokens + (moment - last) * limit)
        last = moment
        if tokens >= WINDOW_MS:
            tokens -= WINDOW_MS
        else:
            refused += 1
    return refused


arrivals = st.lists(
    st.tuples(st.integers(0, 4_000), st.integers(1, 60), st.sampled_from(list(Priority))), min_size=1, max_size=250
)


@settings(max_examples=150, deadline=None)
@given(limit=st.integers(1, 1500), arrivals=arrivals)
def test_no_60_s_window_admits_more_than_the_limit(limit: int, arrivals: list[tuple[int, int, Priority]]) -> None:
    times = admitted_times(limit, arrivals)
    assert busiest_window(times) <= limit
    assert refused_by_incident_io(limit, times) == 0


@pytest.mark.parametrize("limit", [250, 1000, 1200])
def test_a_flood_gets_nearly_the_whole_limit_every_minute(limit: int) -> None:
    """The bound is not bought by wasting the budget: a request every millisecond for three minutes gets within 1%
    of the limit in its first minute (the burst and a minute's refill), and nine tenths of it each minute after
    (the refill alone: the price of the bound)."""
    times = admitted_times(limit, [(1, 1, Priority.PAGE_OR_OPEN)] * (3 * WINDOW_MS))
    assert 0.99 * limit <= busiest_window(times) <= limit
    burst = BucketLimit("requests", limit).burst
    assert len(times) >= 0.99 * (burst + 3 * (limit - burst))
