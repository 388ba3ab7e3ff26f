"""Admission: the first and cheapest step, before a byte of the body is read.

Two limits per worker:
- a hard cap on requests in progress (memory: each holds at most one body);
- a concurrency limit (``LagLimit``) that starts from the worker's measured capacity times
  its unloaded latency, and that the event loop's lag moves: a worker's work is CPU, and
  when its CPU is short, requests queue in front of the event loop, which then runs its
  timers late. A lag that stands (above ``target`` for a whole ``interval``, as CoDel judges
  a queue) cuts the limit below what is in progress; a loop on time with the limit nearly
  reached raises it (the requests wait on Kafka, not on the CPU).

The starting cap bounds the work one loop turn can hold, so a shed answer never waits behind
much admitted work; the lag corrects it where the machine is slower or Kafka slower.

Why the loop's lag rather than latency: the latency of a request is mostly Kafka's (linger,
acknowledgement), which moves with the broker and says nothing of this worker's CPU; and on a
noisy 2-core machine the BBR-like limit that preceded this one (best rate x least latency)
oscillated and shed at 70 % of the capacity (bench/bench_collector.py, overload section).
A worker below its capacity keeps its loop on time and sheds nothing, from its first second.

``Retry-After`` grows with the overload and is spread: a shed client is told to come back in
a whole number of seconds drawn from 1 .. the ratio of the requests offered to those admitted
lately, so the retries of a surge three times the capacity spread over three seconds.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable

from collector.errors import Cause, CollectorError

OVERLOADED_MESSAGE = "collector overloaded: retry later"


class LagLimit:
    """In-progress limit, from ``initial`` (the capacity times the unloaded latency, with
    room): cut by ``cut`` (below what is in progress) when the loop's lag has stood above
    ``target_s`` for ``interval_s``, then again each further ``interval_s`` it stands; raised
    by ``grow`` of itself per tick while the loop is on time and the limit is below
    ``initial`` or nearly reached (the requests in progress wait on Kafka, not on this
    worker's CPU: it has room)."""

    def __init__(
        self,
        initial: int,
        min_limit: int,
        max_limit: int,
        target_s: float,
        interval_s: float,
        *,
        cut: float = 0.8,
        grow: float = 0.05,
    ):
        self.limit = self._initial = float(initial)
        self._min, self._max = float(min_limit), float(max_limit)
        self._target, self._interval = target_s, interval_s
        self._cut, self._grow = cut, grow
        self._above_since: float | None = None  # when the lag went (and stayed) above target

    def tick(self, now: float, lag_s: float, in_flight: int) -> None:
        if lag_s <= self._target:
            self._above_since = None
            step = max(1.0, self.limit * self._grow)
            if in_flight >= 0.75 * self.limit:
                self.limit = min(self._max, self.limit + step)
            elif self.limit < self._initial:
                self.limit = min(self._initial, self.limit + step)
        elif self._above_since is None:
            self._above_since = now
        elif now - self._above_since >= self._interval:
            self.limit = max(self._min, min(self.limit, in_flight) * self._cut)
            self._above_since = now  # the next cut, if the lag still stands an interval on


class Admission:
    """Counts requests in progress; ``admit()`` returns a ticket or sheds with OVERLOADED."""

    def __init__(
        self,
        max_in_flight: int,
        limit: LagLimit,
        max_retry_after_s: int = 30,
        rand: Callable[[int, int], int] = random.randint,
    ):
        self.max_in_flight = max_in_flight
        self.limit = limit
        self.in_flight = 0
        # Requests seen arriving (shedding.py) whose handler has not called admit() yet: aiohttp
        # starts a handler a loop turn or two after the bytes came, and every request read in
        # between would otherwise find the same free slot, pass, and be shed the dear way.
        self.arriving = 0
        self.loop_lag = 0.0  # seconds, kept up to date by LoopLag
        self.admitted = self.shed = 0  # since the last ``new_period()``
        self._overload = 1.0  # offered / admitted over the last period
        self._max_retry = max_retry_after_s
        self._rand = rand

    def full(self) -> bool:
        """A request arriving now would be shed (shedding.py asks before aiohttp parses it)."""
        taken = self.in_flight + self.arriving
        return taken >= self.max_in_flight or taken >= self.limit.limit

    def arrive(self) -> None:
        """A request was seen arriving: hold it a place until its admit()."""
        self.arriving += 1

    def refused(self) -> CollectorError:
        """Count one shed request; its error, with a Retry-After of its own."""
        self.shed += 1
        return CollectorError(Cause.OVERLOADED, OVERLOADED_MESSAGE, self.retry_after_s())

    def retry_after_s(self) -> int:
        """Whole seconds, drawn from 1 .. the overload of the last period (at least 2, so that
        retries always spread), at most ``max_retry_after_s``."""
        return self._rand(1, min(self._max_retry, max(2, math.ceil(self._overload))))

    def new_period(self) -> None:
        """Called every second: the overload of the period that ends, and the places of
        arrivals that never called admit() (the client left, aiohttp refused the request)
        given back, so such a place is held a second at most."""
        offered = self.admitted + self.shed
        self._overload = offered / max(1, self.admitted) if self.shed else 1.0
        self.admitted = self.shed = 0
        self.arriving = 0

    def admit(self) -> Ticket:
        if self.arriving:
            self.arriving -= 1  # this request's own place, if it was seen arriving
        if self.full():
            raise self.refused()
        self.in_flight += 1
        self.admitted += 1
        return Ticket(self)


class Ticket:
    """One admitted request; leaving the block gives its place back."""

    __slots__ = ("_admission",)

    def __init__(self, admission: Admission):
        self._admission = admission

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._admission.in_flight -= 1


class LoopLag:
    """How late the event loop runs a timer: every ``interval_s`` a timer due then measures it,
    and feeds the admission's limit. One cheap timer per worker, whatever the traffic."""

    def __init__(self, admission: Admission, interval_s: float = 0.01):
        self._admission = admission
        self._interval = interval_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + self._interval
        self._handle = self._loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = self._loop.time()
        lag = max(0.0, now - self._due)
        admission = self._admission
        admission.loop_lag = lag
        admission.limit.tick(now, lag, admission.in_flight)
        self._due = now + self._interval
        self._handle = self._loop.call_at(self._due, self._tick)
