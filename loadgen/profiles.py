"""Load profiles: the offered rate over time, in events per second, and the send schedule.

    constant     the same rate for the whole run
    steps        one rate after another, each for ``step_s`` seconds
    flash_sale   a quiet base rate, then at ``sale_start_s`` a spike of ``peak_factor`` times
                 the base that decays exponentially back towards it (``half_life_s``)

Rates are events/s because that is what a collector is sized by; the schedule turns them into
request send times for a number of events per request.
"""

from __future__ import annotations

import math
from array import array
from typing import Annotated, Literal

from pydantic import BaseModel, Field

_TICK_S = 0.001  # the schedule's integration step


class Constant(BaseModel):
    kind: Literal["constant"] = "constant"
    events_per_s: float = Field(1000.0, gt=0, description="Offered events per second.")
    duration_s: float = Field(10.0, gt=0, description="How long the load lasts.")

    def rate(self, t: float) -> float:
        return self.events_per_s


class Steps(BaseModel):
    kind: Literal["steps"] = "steps"
    events_per_s: list[Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: [1000.0, 2000.0, 4000.0],
        min_length=1,
        description="Offered events per second of each step, in order.",
    )
    step_s: float = Field(5.0, gt=0, description="How long each step lasts.")

    @property
    def duration_s(self) -> float:
        return self.step_s * len(self.events_per_s)

    def rate(self, t: float) -> float:
        return self.events_per_s[min(int(t / self.step_s), len(self.events_per_s) - 1)]


class FlashSale(BaseModel):
    kind: Literal["flash_sale"] = "flash_sale"
    base_events_per_s: float = Field(500.0, gt=0, description="The quiet rate before the sale.")
    peak_factor: float = Field(
        10.0, ge=1, description="The spike at the sale's start, as a multiple of the base rate."
    )
    sale_start_s: float = Field(
        5.0, ge=0, description="When the sale starts, from the run's start."
    )
    half_life_s: float = Field(
        5.0, gt=0, description="The spike's excess over the base halves every this."
    )
    duration_s: float = Field(30.0, gt=0, description="How long the load lasts.")

    def rate(self, t: float) -> float:
        if t < self.sale_start_s:
            return self.base_events_per_s
        decay = math.exp(-math.log(2) * (t - self.sale_start_s) / self.half_life_s)
        return self.base_events_per_s * (1 + (self.peak_factor - 1) * decay)


Profile = Annotated[Constant | Steps | FlashSale, Field(discriminator="kind")]


def offered_requests(profile: Constant | Steps | FlashSale, events_per_request: int) -> float:
    """Requests the profile offers over its whole duration (the integral of its rate)."""
    total, t = 0.0, 0.0
    while t < profile.duration_s:
        step = min(_TICK_S, profile.duration_s - t)
        total += profile.rate(t + step / 2) * step
        t += step
    return total / events_per_request


def send_times(profile: Constant | Steps | FlashSale, events_per_request: int) -> array:
    """When each request leaves, in seconds from the start: the k-th (from 0) when the rate's
    integral reaches k requests, so the offered count follows the profile to the request."""
    times = array("d")
    due, t = 0.0, 0.0  # ``due``: requests owed by time t
    while t < profile.duration_s:
        step = min(_TICK_S, profile.duration_s - t)
        per_s = profile.rate(t + step / 2) / events_per_request
        after = due + per_s * step
        # The requests whose turn falls in this tick, placed where the rate puts them.
        while len(times) < after:
            times.append(t + (len(times) - due) / per_s)
        due, t = after, t + step
    return times
