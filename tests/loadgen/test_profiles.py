"""Profiles: the schedule offers what the profile says, to the request."""

from __future__ import annotations

import itertools
import math

import pytest

from loadgen import Constant, FlashSale, Steps, offered_requests, send_times


def test_constant_sends_evenly_the_right_count():
    times = send_times(Constant(events_per_s=1000, duration_s=10), events_per_request=20)
    assert len(times) == 500
    assert times[0] == 0
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {0.02}


def test_steps_offer_each_rate_for_its_time():
    profile = Steps(events_per_s=[1000, 0, 4000], step_s=2)
    times = send_times(profile, events_per_request=10)
    per_step = [sum(1 for t in times if 2 * s <= t < 2 * (s + 1)) for s in range(3)]
    assert per_step == [200, 0, 800]
    assert profile.duration_s == 6


def test_flash_sale_spikes_at_the_start_and_decays_to_the_base():
    profile = FlashSale(
        base_events_per_s=500, peak_factor=20, sale_start_s=5, half_life_s=2, duration_s=30
    )
    times = send_times(profile, events_per_request=10)
    per_second = [sum(1 for t in times if s <= t < s + 1) for s in range(30)]
    assert per_second[:5] == [50] * 5  # quiet
    # The first second of the sale: the mean of the decaying spike over that second.
    spike = 50 * (1 + 19 * (2 / math.log(2)) * (1 - 0.5 ** (1 / 2)))
    assert per_second[5] == pytest.approx(spike, abs=1)
    assert per_second[5] > 10 * per_second[4]
    assert per_second[5] > per_second[6] > per_second[7] > per_second[12]
    assert per_second[29] == pytest.approx(50, abs=1)
    # The whole run: the base plus the spike's integral, base x (peak - 1) x half-life / ln 2.
    expected = (500 * 30 + 500 * 19 * 2 / math.log(2) * (1 - 0.5 ** (25 / 2))) / 10
    assert len(times) == pytest.approx(expected, abs=1)
    assert offered_requests(profile, 10) == pytest.approx(expected, rel=1e-6)


def test_the_schedule_never_goes_back_in_time():
    times = send_times(FlashSale(duration_s=20), events_per_request=7)
    assert all(a <= b for a, b in itertools.pairwise(times))
    assert times[-1] < 20
