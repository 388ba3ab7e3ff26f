"""Admission: the hard cap, the limit a standing loop lag cuts, and Retry-After."""

from __future__ import annotations

import asyncio
import time

import pytest

from collector.admission import Admission, LagLimit, LoopLag
from collector.errors import Cause, CollectorError

TARGET_S, INTERVAL_S, TICK_S = 0.005, 0.1, 0.01


def lag_limit(initial: int = 24, min_limit: int = 4, max_limit: int = 512) -> LagLimit:
    return LagLimit(initial, min_limit, max_limit, TARGET_S, INTERVAL_S)


def ticks(limit: LagLimit, start: float, seconds: float, lag_s: float, in_flight: int) -> float:
    """The loop's timer every TICK_S for ``seconds``, each ``lag_s`` late; the time after."""
    now = start
    for _ in range(round(seconds / TICK_S)):
        now += TICK_S + lag_s
        limit.tick(now, lag_s, in_flight)
    return now


def test_sheds_past_the_hard_cap_and_releases_on_exit():
    admission = Admission(2, lag_limit())
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


def test_a_cold_worker_at_light_load_keeps_its_initial_limit():
    """No shed at light load after start: the limit starts at ``initial``, which a loop on
    time with room to spare leaves alone."""
    limit = lag_limit()
    admission = Admission(512, limit)
    ticks(limit, 0.0, 5.0, lag_s=0.001, in_flight=10)
    assert limit.limit == 24
    tickets = [admission.admit() for _ in range(24)]
    assert len(tickets) == 24


def test_a_limit_reached_on_a_loop_on_time_grows_to_the_hard_cap():
    """Requests waiting on a slow Kafka, not on the CPU: the worker has room for more."""
    limit = lag_limit(max_limit=300)
    now = 0.0
    for _ in range(200):
        now = ticks(limit, now, TICK_S, lag_s=0.001, in_flight=int(limit.limit))
    assert limit.limit == 300


def test_a_lag_spike_shorter_than_the_interval_cuts_nothing():
    limit = lag_limit()
    now = ticks(limit, 0.0, 0.02, lag_s=0.04, in_flight=40)  # two late ticks: a GC pause
    ticks(limit, now, 0.1, lag_s=0.0, in_flight=10)
    assert limit.limit == 24


def test_a_standing_lag_cuts_the_limit_below_what_is_in_progress():
    limit = lag_limit()
    ticks(limit, 0.0, INTERVAL_S / 2, lag_s=0.02, in_flight=20)  # 5 ticks 30 ms apart
    assert limit.limit == pytest.approx(20 * 0.8)  # one cut
    admission = Admission(512, limit)
    admission.in_flight = 16
    with pytest.raises(CollectorError):
        admission.admit()


def test_the_cuts_stop_at_the_floor():
    limit = lag_limit(min_limit=4)
    ticks(limit, 0.0, 5.0, lag_s=0.02, in_flight=3)
    assert limit.limit == 4


def test_the_limit_comes_back_within_a_second_of_the_loop_on_time():
    """Recovery after a burst: from the floor to its start, on time, even idle."""
    limit = lag_limit()
    now = ticks(limit, 0.0, 2.0, lag_s=0.05, in_flight=4)
    assert limit.limit == 4
    ticks(limit, now, 0.5, lag_s=0.0, in_flight=0)
    assert limit.limit == 24


def shed_period(admission: Admission, admitted: int, shed: int) -> None:
    for _ in range(admitted):
        with admission.admit():
            pass
    for _ in range(shed):
        admission.refused()
    admission.new_period()


def test_retry_after_is_whole_seconds_spread_and_grows_with_the_overload():
    admission = Admission(512, lag_limit())
    calm = {admission.retry_after_s() for _ in range(200)}
    assert calm == {1, 2}  # spread even when barely overloaded
    shed_period(admission, admitted=100, shed=200)  # three times what it admits
    at_3x = [admission.retry_after_s() for _ in range(300)]
    assert set(at_3x) == {1, 2, 3}
    shed_period(admission, admitted=100, shed=900)
    at_10x = {admission.retry_after_s() for _ in range(1000)}
    assert at_10x == set(range(1, 11))
    assert all(isinstance(v, int) for v in at_10x)


def test_retry_after_is_capped_and_calms_down_after_the_overload():
    admission = Admission(512, lag_limit(), max_retry_after_s=5)
    shed_period(admission, admitted=1, shed=1000)
    assert max(admission.retry_after_s() for _ in range(200)) == 5
    shed_period(admission, admitted=100, shed=0)
    assert max(admission.retry_after_s() for _ in range(200)) <= 2


def test_loop_lag_measures_a_blocked_loop():
    async def scenario() -> tuple[float, float]:
        admission = Admission(100, LagLimit(10, 1, 100, 0.005, 0.1))
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
    admission = Admission(100, LagLimit(2, 1, 100, 0.005, 0.1))
    admission.arrive()
    admission.arrive()
    assert admission.full()  # both places taken before either handler ran
    ticket = admission.admit()  # the first one's handler: its own place, not a third
    assert (admission.in_flight, admission.arriving) == (1, 1)
    assert admission.full()
    admission.new_period()  # the second never reached admit() (its client left)
    assert not admission.full()
    with ticket:
        pass
    assert admission.in_flight == 0
