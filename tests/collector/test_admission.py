"""Admission: the hard cap and the adaptive limit (on a fake clock and a model worker)."""

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


def drive(
    limit: AdaptiveLimit,
    clock: Clock,
    seconds: float,
    offered: float,
    capacity: float = 1000.0,
    latency: float = 0.012,
) -> None:
    """A worker that can finish ``capacity`` requests/s, each taking ``latency`` unloaded,
    offered ``offered`` requests/s for ``seconds``: in progress is what the offer needs at
    that latency, up to the limit; past the capacity, the latency grows (Little's law)."""
    owed = 0.0
    for _ in range(round(seconds / 0.01)):
        in_flight = min(limit.limit, offered * latency)
        rate = min(in_flight / latency, capacity)
        owed += rate * 0.01
        for _ in range(int(owed)):
            limit.sample(in_flight / rate)
        owed -= int(owed)
        clock.now += 0.01


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


def test_a_surge_raises_the_limit_to_the_capacity_within_a_second():
    clock = Clock()
    limit = AdaptiveLimit(4, 4, 500, clock=clock)
    drive(limit, clock, seconds=1.0, offered=100)  # 1.2 requests in progress
    drive(limit, clock, seconds=1.0, offered=3000)  # three times the capacity
    # Little's law at the capacity: 1000/s x 12 ms = 12 in progress; twice that allowed.
    assert 20 <= limit.limit <= 28


def test_below_the_capacity_the_limit_leaves_room_for_bursts():
    clock = Clock()
    limit = AdaptiveLimit(4, 4, 500, clock=clock)
    drive(limit, clock, seconds=3.0, offered=700)  # 8.4 in progress
    assert limit.limit >= 16


def test_the_limit_follows_slower_work_down_then_relearns_it():
    clock = Clock()
    limit = AdaptiveLimit(4, 4, 500, clock=clock)
    drive(limit, clock, seconds=2.0, offered=3000)
    learned = limit.limit
    # Kafka slows down: each request now takes 60 ms. Once the fast rates have aged out of
    # their 2 s, the limit falls with the rate.
    drive(limit, clock, seconds=3.0, offered=3000, latency=0.060)
    assert limit.limit < learned / 2
    # Once the fast latencies have aged out of their 10 s, the limit fits the new latency:
    # 1000/s x 60 ms = 60 in progress, twice that allowed.
    drive(limit, clock, seconds=12.0, offered=3000, latency=0.060)
    assert 100 <= limit.limit <= 130


def test_a_quiet_spell_keeps_the_limit():
    clock = Clock()
    limit = AdaptiveLimit(4, 4, 500, clock=clock)
    drive(limit, clock, seconds=2.0, offered=3000)
    learned = limit.limit
    clock.now += 60.0  # nothing finishes: nothing is sampled
    drive(limit, clock, seconds=0.2, offered=3000)
    assert limit.limit == pytest.approx(learned, rel=0.2)


def test_limit_stays_within_its_bounds():
    clock = Clock()
    limit = AdaptiveLimit(12, 10, 14, clock=clock)
    drive(limit, clock, seconds=1.0, offered=10)
    assert limit.limit == 10
    drive(limit, clock, seconds=2.0, offered=5000)
    assert limit.limit == 14


def test_the_sampled_latency_starts_when_the_body_is_in():
    clock = Clock()
    samples = []

    class Recorder(AdaptiveLimit):
        def sample(self, rtt_s):
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

    def sample(self, rtt_s: float) -> None:
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


def test_requests_seen_arriving_hold_their_place_until_admitted():
    admission = Admission(100, AdaptiveLimit(2, 1, 100))
    admission.arrive()
    admission.arrive()
    assert admission.full()  # both places taken before either handler ran
    ticket = admission.admit()  # the first one's handler: its own place, not a third
    assert (admission.in_flight, admission.arriving) == (1, 1)
    assert admission.full()
    admission.forget_arrivals()  # the second never reached admit() (its client left)
    assert not admission.full()
    with ticket:
        pass
    assert admission.in_flight == 0
