"""Admission: the cap on requests in progress, Retry-After, the loop lag metric."""

from __future__ import annotations

import asyncio
import time

import pytest

from collector.admission import Admission, LoopLag
from collector.errors import Cause, CollectorError


def test_sheds_past_the_hard_cap_and_releases_on_exit():
    admission = Admission(2)
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


def shed_period(admission: Admission, admitted: int, shed: int) -> None:
    for _ in range(admitted):
        with admission.admit():
            pass
    for _ in range(shed):
        admission.refused()
    admission.new_period()


def test_retry_after_is_whole_seconds_spread_and_grows_with_the_overload():
    admission = Admission(512)
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
    admission = Admission(512, max_retry_after_s=5)
    shed_period(admission, admitted=1, shed=1000)
    assert max(admission.retry_after_s() for _ in range(200)) == 5
    shed_period(admission, admitted=100, shed=0)
    assert max(admission.retry_after_s() for _ in range(200)) <= 2


def test_loop_lag_measures_a_blocked_loop():
    async def scenario() -> tuple[float, float]:
        admission = Admission(100)
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
    assert later < blocked  # on time again (a loaded machine adds a little)


def test_requests_seen_arriving_hold_their_place_until_admitted():
    admission = Admission(2)
    first, second = object(), object()  # their connections
    admission.arrive(first)
    admission.arrive(second)
    assert admission.full()  # both places taken before either handler ran
    ticket = admission.admit(first)  # the first one's handler: its own place, not a third
    assert (admission.in_flight, admission.arriving) == (1, 1)
    assert admission.full()
    admission.new_period()
    assert admission.full()  # a new period gives back no place still held
    admission.settle(second)  # the second never reached admit() (its client left)
    assert not admission.full()
    admission.settle(first)  # admitted: nothing left to give back
    assert (admission.in_flight, admission.arriving) == (1, 0)
    with ticket:
        pass
    assert admission.in_flight == 0
