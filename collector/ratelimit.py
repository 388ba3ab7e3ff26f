"""A token bucket per write key, counted in events.

Each worker holds its own buckets with its share of the key's rate (rate / workers): the
kernel spreads connections evenly over SO_REUSEPORT sockets, so the shares add up to the rate
without any coordination between workers. Buckets exist only for configured keys (unknown keys
were refused before), so their number is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from collector.errors import Cause, CollectorError


class TokenBucket:
    __slots__ = ("_clock", "_stamp", "capacity", "rate", "tokens")

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, n: int) -> float:
        """Take ``n`` tokens: 0.0 if granted, else the seconds until they would be there."""
        self._refill()
        if n <= self.tokens:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate

    def empty_for(self) -> float:
        """Seconds until one token is there (0.0 if there is one): a check before the body."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RateLimiter:
    def __init__(self, buckets: Mapping[str, TokenBucket]):
        self._buckets = dict(buckets)

    @classmethod
    def per_worker(
        cls,
        rates: Mapping[str, float],
        *,
        workers: int,
        burst_s: float,
        min_capacity: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> RateLimiter:
        """This worker's share of each key's rate; a bucket always holds at least one batch."""
        buckets = {}
        for key, rate in rates.items():
            share = rate / workers
            buckets[key] = TokenBucket(share, max(share * burst_s, min_capacity), clock)
        return cls(buckets)

    def precheck(self, write_key: str) -> None:
        """Before the body: refuse a key whose bucket is already empty."""
        bucket = self._buckets.get(write_key)
        if bucket is not None and (wait := bucket.empty_for()) > 0:
            raise _limited(wait)

    def take(self, write_key: str, events: int) -> None:
        bucket = self._buckets.get(write_key)
        if bucket is not None and (wait := bucket.take(events)) > 0:
            raise _limited(wait)


def _limited(wait_s: float) -> CollectorError:
    return CollectorError(
        Cause.RATE_LIMITED, "write key over its rate limit: retry later", retry_after_s=wait_s
    )
