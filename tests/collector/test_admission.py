"""Admission: the hard cap and the adaptive (Gradient2) limit, on a fake clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from collector.admission import AdaptiveLimit, Admission, LoopLag
from collector.errors import Cause, CollectorError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drive(limit: AdaptiveLimit, clock: Clock, rtt_s: float, in_flight: int, windows: int) -> None:
    """``windows`` windows of samples at one latency and concurrency."""
    for _ in range(windows):
        for _ in range(10):
            limit.sample(rtt_s, in_flight)
        clock.now += 0.06


def test_sheds_past_the_hard_cap_and_releases_on_exit():
    admission = Admission(2, AdaptiveLimit(10, 1, 10))
    first, second = admission.admit(), admission.admit()
    with pytest.raises(CollectorError) as shed:
        admission.admit()
    assert shed.value.cause is Cause.OVERLOADED
    with first:
        pass
    assert admission.in_flight == 1
    with pytest.raises(RuntimeError), second:
        raise RuntimeError("a failing request still gives its slot back")
    assert admission.in_flight == 0


def test_sheds_past_the_adaptive_limit():
    admission = Admission(100, AdaptiveLimit(3, 1, 100))
    tickets = [admission.admit() for _ in range(3)]
    with pytest.raises(CollectorError):
        admission.admit()
    assert len(tickets) == 3


def test_limit_grows_while_latency_holds_and_the_limit_is_used():
    clock = Clock()
    limit = AdaptiveLimit(20, 4, 500, clock=clock)
    drive(limit, clock, rtt_s=0.005, in_flight=20, windows=50)
    assert limit.limit > 40


def test_limit_does_not_grow_when_not_used():
    clock = Clock()
    limit = AdaptiveLimit(20, 4, 500, clock=clock)
    drive(limit, clock, rtt_s=0.005, in_flight=3, windows=50)
    assert limit.limit == 20


def test_a_surge_halves_the_limit_within_a_second():
    clock = Clock()
    limit = AdaptiveLimit(100, 4, 500, clock=clock)
    drive(limit, clock, rtt_s=0.005, in_flight=100, windows=20)
    before = limit.limit
    drive(limit, clock, rtt_s=0.030, in_flight=100, windows=16)  # ~1 s at 6x the latency
    assert limit.limit < before / 2


def test_limit_falls_when_latency_rises_and_recovers_after():
    clock = Clock()
    limit = AdaptiveLimit(100, 4, 500, clock=clock)
    drive(limit, clock, rtt_s=0.005, in_flight=100, windows=20)
    before = limit.limit
    drive(limit, clock, rtt_s=0.050, in_flight=int(before), windows=10)
    assert limit.limit < before * 0.5
    assert limit.limit >= 4
    low = limit.limit
    drive(limit, clock, rtt_s=0.005, in_flight=int(low), windows=40)
    assert limit.limit > low


def test_limit_stays_within_its_bounds():
    clock = Clock()
    limit = AdaptiveLimit(12, 10, 14, clock=clock)
    drive(limit, clock, rtt_s=0.01, in_flight=12, windows=5)
    drive(limit, clock, rtt_s=1.0, in_flight=12, windows=20)
    assert limit.limit == 10
    drive(limit, clock, rtt_s=0.01, in_flight=14, windows=200)
    assert limit.limit == 14


def test_the_sampled_latency_starts_when_the_body_is_in():
    clock = Clock()
    samples = []

    class Recorder(AdaptiveLimit):
        def sample(self, rtt_s, in_flight):
            samples.append(rtt_s)

    admission = Admission(10, Recorder(5, 1, 10), clock=clock)
    with admission.admit() as ticket:
        clock.now += 3.0  # a slow upload: not the worker's latency
        ticket.start_clock()
        clock.now += 0.01
    with admission.admit():
        clock.now += 1.0  # refused before the body: no sample
    assert samples == [pytest.approx(0.01)]


class Recorder:
    limit = 10.0

    def __init__(self) -> None:
        self.samples: list[float] = []

    def sample(self, rtt_s: float, in_flight: int) -> None:
        self.samples.append(rtt_s)


def test_the_loops_lag_counts_as_latency():
    """Requests queued in front of a busy loop wait unseen by the handler: the lag is added."""
    clock, recorder = Clock(), Recorder()
    admission = Admission(100, recorder, clock=clock)  # type: ignore[arg-type]
    admission.loop_lag = 0.05
    with admission.admit() as ticket:
        ticket.start_clock()
        clock.now += 0.01
    assert recorder.samples == [pytest.approx(0.06)]


def test_loop_lag_measures_a_blocked_loop_and_decays():
    async def scenario() -> tuple[float, float]:
        admission = Admission(100, AdaptiveLimit(10, 1, 100))
        lag = LoopLag(admission, interval_s=0.005)
        lag.start()
        await asyncio.sleep(0.02)
        time.sleep(0.08)  # the loop is blocked: the due timer runs late
        await asyncio.sleep(0.001)
        blocked = admission.loop_lag
        await asyncio.sleep(0.2)
        lag.stop()
        return blocked, admission.loop_lag

    blocked, later = asyncio.run(scenario())
    assert blocked >= 0.05
    assert later < 0.01
