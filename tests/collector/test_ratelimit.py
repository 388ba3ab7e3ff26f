"""Token buckets per write key, on a fake clock."""

from __future__ import annotations

import pytest

from collector.errors import Cause, CollectorError
from collector.ratelimit import RateLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_grants_its_capacity_then_refills_at_its_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10, capacity=20, clock=clock)
    assert bucket.take(20) == 0.0
    assert bucket.take(5) == pytest.approx(0.5)  # 5 tokens at 10/s
    clock.now += 0.5
    assert bucket.take(5) == 0.0
    clock.now += 100
    assert bucket.take(0) == 0.0
    assert bucket.tokens == 20  # refilled, capped at the capacity


def test_limiter_refuses_with_retry_after_and_only_the_key_over_its_rate():
    clock = Clock()
    limiter = RateLimiter({"a": TokenBucket(100, 100, clock), "b": TokenBucket(100, 100, clock)})
    limiter.take("a", 100)
    with pytest.raises(CollectorError) as refused:
        limiter.take("a", 50)
    assert refused.value.cause is Cause.RATE_LIMITED
    assert refused.value.retry_after_s == pytest.approx(0.5)
    limiter.take("b", 100)  # its own bucket


def test_precheck_refuses_an_empty_bucket_before_the_body():
    clock = Clock()
    limiter = RateLimiter({"a": TokenBucket(10, 10, clock)})
    limiter.precheck("a")
    limiter.take("a", 10)
    with pytest.raises(CollectorError) as refused:
        limiter.precheck("a")
    assert refused.value.retry_after_s == pytest.approx(0.1)
    clock.now += 0.2
    limiter.precheck("a")


def test_per_worker_share_and_a_bucket_always_fits_one_batch():
    limiter = RateLimiter.per_worker(
        {"a": 1000.0, "b": 10.0}, workers=4, burst_s=2.0, min_capacity=500
    )
    buckets = limiter._buckets
    assert buckets["a"].rate == 250 and buckets["a"].capacity == 500
    assert buckets["b"].rate == 2.5 and buckets["b"].capacity == 500
