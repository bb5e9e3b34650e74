"""incident.io's rate limits: a token bucket per API key that holds a minute's quota and refills continuously."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    capacity: int
    tokens: float
    updated_at: float

    def take(self, now: float) -> float:
        """Take one token; return 0 if granted, else the seconds until one is available."""
        refill_per_second = self.capacity / 60
        self.tokens = min(self.capacity, self.tokens + (now - self.updated_at) * refill_per_second)
        self.updated_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / refill_per_second


@dataclass(frozen=True)
class RateVerdict:
    limit: int
    remaining: int
    wait_seconds: float  # 0 when the request may go ahead

    @property
    def allowed(self) -> bool:
        return self.wait_seconds == 0

    @property
    def retry_after_seconds(self) -> int:
        """What the `Retry-After` header carries: whole seconds, at least 1."""
        return max(1, math.ceil(self.wait_seconds))


class RateLimiter:
    """One bucket per key for a per-minute limit (e.g. 1200/min refilling at 20/s)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> RateVerdict:
        now = self._clock()
        bucket = self._buckets.setdefault(key, TokenBucket(self.per_minute, float(self.per_minute), now))
        wait = bucket.take(now)
        return RateVerdict(self.per_minute, int(bucket.tokens), wait)
