"""The shared incident.io call budget: which calls go first when requests are short, and the bucket arithmetic.

incident.io limits requests per API key with a token bucket (1,200 a minute refilling at 20/s, org-wide buckets
shared by keys; escalation creation 60 a minute). Every dispatch and scheduler container draws from one bucket
kept in DynamoDB, as a GCRA ("generic cell rate algorithm"): the bucket is a single number, the theoretical
arrival time (TAT) of the next request. A request advances it by one interval; it is admitted while the TAT stays
within the burst tolerance of now. That is a token bucket, stored in one attribute and changed by one atomic
conditional update, so it holds across any number of concurrent containers.

Its shape is not incident.io's. A bucket holding a minute's quota that refills at the quota per minute admits up to
twice the quota in one sliding minute (the full bucket, then a minute's refill). Ours holds a tenth of the limit
and refills at the other nine tenths a minute: a sliding minute admits at most the burst plus a minute's refill,
which is the limit, whenever the minute starts. Both figures are below incident.io's (bucket and refill alike), so
what we send never empties its bucket.

Priority without a queue: a lower priority is admitted only while more of the burst is left. When requests are
short the bucket runs low, the lower classes wait first, and pages and incident openings keep the rest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum


class Priority(IntEnum):
    PAGE_OR_OPEN = 0  # somebody must hear of it: pages, incident openings
    RESOLVE = 1  # resolves and acknowledgements: late is bad, lost is worse
    UPDATE = 2  # severity raises and notes on an open incident
    BACKGROUND = 3  # checks the scheduler makes on its own (page statuses, re-checks outside an action)


# Share of the burst a class leaves untouched for the classes above it.
HEADROOM: dict[Priority, float] = {
    Priority.PAGE_OR_OPEN: 0.0,
    Priority.RESOLVE: 0.10,
    Priority.UPDATE: 0.25,
    Priority.BACKGROUND: 0.40,
}

PRIORITY_OF_ACTION: dict[str, Priority] = {
    "open_incident": Priority.PAGE_OR_OPEN,
    "escalate": Priority.PAGE_OR_OPEN,
    "resolve_incident": Priority.RESOLVE,
    "acknowledge_escalation": Priority.RESOLVE,
    "update_incident": Priority.UPDATE,
    "reopen_incident": Priority.PAGE_OR_OPEN,  # it stands for an incident open
    "flapping_update": Priority.UPDATE,
    "storm_update": Priority.UPDATE,
    "alert_event": Priority.PAGE_OR_OPEN,
}

REQUESTS = "requests"
PAGES = "pages"


BURST_SHARE = 10  # the burst is a tenth of the per-minute limit; the other nine tenths refill over the minute
WINDOW_MS = 60_000


@dataclass(frozen=True)
class BucketLimit:
    """One bucket: at most `per_minute` requests in any 60 s [t, t + 60 s), whenever t is.

    GCRA with an emission interval T and a tolerance of `burst` intervals: a request is admitted while the TAT it
    leaves is within `burst` intervals of now. Starting full, `burst` go at once and each further one needs T more,
    so a window of W ms admits fewer than burst + W / T <= burst + (per_minute - burst) requests. The interval is
    rounded up, never down, to keep that bound in whole milliseconds."""

    name: str
    per_minute: int

    @property
    def burst(self) -> int:
        return max(1, self.per_minute // BURST_SHARE)

    @property
    def interval_ms(self) -> int:
        refilled_per_minute = max(1, self.per_minute - self.burst)
        return -(-WINDOW_MS // refilled_per_minute)

    @property
    def tolerance_ms(self) -> int:
        return self.burst * self.interval_ms

    def latest_admitted_tat(self, now_ms: int, priority: Priority) -> int:
        """The highest TAT a request of this priority may find and still go ahead. Every class keeps at least
        one interval of the burst, so a small bucket (a burst of a few requests) still serves every class."""
        usable = max(self.interval_ms, round(self.tolerance_ms * (1 - HEADROOM[priority])))
        return now_ms + usable - self.interval_ms

    def wait_ms(self, tat_ms: int, now_ms: int, priority: Priority) -> int:
        """How long a request of this priority must wait, finding the bucket at `tat_ms` (0: it may go now)."""
        return max(0, tat_ms - self.latest_admitted_tat(now_ms, priority))


_current_priority: ContextVar[Priority] = ContextVar("call_priority", default=Priority.BACKGROUND)


def current_priority() -> Priority:
    return _current_priority.get()


@contextlib.contextmanager
def calls_for(priority: Priority) -> Iterator[None]:
    """Every incident.io request made inside this block is drawn from the budget at this priority."""
    token = _current_priority.set(priority)
    try:
        yield
    finally:
        _current_priority.reset(token)


def priority_of(action_kind: str) -> Priority:
    return PRIORITY_OF_ACTION.get(action_kind, Priority.BACKGROUND)
