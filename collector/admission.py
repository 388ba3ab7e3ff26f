"""Admission: the first and cheapest step, before a byte of the body is read.

Two limits per worker:
- a hard cap on requests in progress (memory: each holds at most one body);
- an adaptive concurrency limit, Gradient2 as in Netflix's concurrency-limits: it compares the
  latency of recent requests (short window) with its long-run average; while the short one is
  no worse than ``tolerance`` times the long one the limit grows by a small queue allowance,
  when it gets worse the limit shrinks in proportion. So under a surge the worker keeps only as
  many requests in progress as it can finish at its normal latency and sheds the rest at once,
  instead of letting every request queue behind the event loop.

The latency sampled is the server's own work (body received -> answer), not the client's
upload time, so a slow phone does not look like an overloaded worker, plus the event loop's
current lag (``LoopLag``): the time a request's bytes wait before the loop even reads them,
which the handler cannot see and which is exactly what grows when the worker's CPU is the
bottleneck (requests queue in front of the loop, not in it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from collector.errors import Cause, CollectorError

OVERLOADED_MESSAGE = "collector overloaded: retry later"


class AdaptiveLimit:
    def __init__(
        self,
        initial: int,
        min_limit: int,
        max_limit: int,
        *,
        tolerance: float = 2.0,
        smoothing: float = 0.2,
        long_window: int = 200,  # windows: ~10 s for the baseline to drift
        window_s: float = 0.05,
        min_window_samples: int = 5,
        queue_size: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = float(initial)
        self._min, self._max = min_limit, max_limit
        self._tolerance, self._smoothing, self._queue = tolerance, smoothing, queue_size
        self._long_factor = 2.0 / (long_window + 1)
        self._long_rtt: float | None = None
        self._window_s, self._min_samples, self._clock = window_s, min_window_samples, clock
        self._window_end = clock() + window_s
        self._sum = 0.0
        self._count = 0
        self._max_in_flight = 0

    def sample(self, rtt_s: float, in_flight: int) -> None:
        """One finished request: its latency and how many were in progress with it."""
        self._sum += rtt_s
        self._count += 1
        self._max_in_flight = max(self._max_in_flight, in_flight)
        now = self._clock()
        if now >= self._window_end and self._count >= self._min_samples:
            self._update(self._sum / self._count, self._max_in_flight)
            self._sum, self._count, self._max_in_flight = 0.0, 0, 0
            self._window_end = now + self._window_s

    def _update(self, short_rtt: float, in_flight: int) -> None:
        short_rtt = max(short_rtt, 1e-6)
        if self._long_rtt is None:
            self._long_rtt = short_rtt
        long_rtt = self._long_rtt + (short_rtt - self._long_rtt) * self._long_factor
        # After a slow spell the long average lags far above the present: let it catch up fast,
        # or the limit would keep growing on a stale baseline.
        if long_rtt / short_rtt > 2.0:
            long_rtt *= 0.95
        self._long_rtt = long_rtt
        # Too few requests to have tested the limit: nothing learned about it.
        if in_flight < self.limit / 2:
            return
        gradient = max(0.5, min(1.0, self._tolerance * long_rtt / short_rtt))
        target = self.limit * gradient + self._queue
        limit = self.limit * (1 - self._smoothing) + target * self._smoothing
        self.limit = max(float(self._min), min(float(self._max), limit))


class Admission:
    """Counts requests in progress; ``admit()`` returns a ticket or sheds with OVERLOADED."""

    def __init__(
        self, max_in_flight: int, limit: AdaptiveLimit, clock: Callable[[], float] = time.monotonic
    ):
        self.max_in_flight = max_in_flight
        self.limit = limit
        self.in_flight = 0
        # Requests seen arriving (shedding.py) whose handler has not called admit() yet: aiohttp
        # starts a handler a loop turn or two after the bytes came, and every request read in
        # between would otherwise find the same free slot, pass, and be shed the dear way.
        self.arriving = 0
        self.loop_lag = 0.0  # seconds, kept up to date by LoopLag
        self._clock = clock

    def full(self) -> bool:
        """A request arriving now would be shed (shedding.py asks before aiohttp parses it)."""
        taken = self.in_flight + self.arriving
        return taken >= self.max_in_flight or taken >= self.limit.limit

    def arrive(self) -> None:
        """A request was seen arriving: hold it a place until its admit()."""
        self.arriving += 1

    def forget_arrivals(self) -> None:
        """Drop the places of arrivals that never called admit() (the client left, aiohttp
        refused the request): called every second, so such a place is held a second at most."""
        self.arriving = 0

    def admit(self) -> Ticket:
        if self.arriving:
            self.arriving -= 1  # this request's own place, if it was seen arriving
        if self.full():
            raise CollectorError(Cause.OVERLOADED, OVERLOADED_MESSAGE)
        self.in_flight += 1
        return Ticket(self)

    def _release(self, started: float | None) -> None:
        if started is not None:
            self.limit.sample(self._clock() - started + self.loop_lag, self.in_flight)
        self.in_flight -= 1


class Ticket:
    """One admitted request. ``start_clock()`` when its body is in; leaving the block releases."""

    __slots__ = ("_admission", "_started")

    def __init__(self, admission: Admission):
        self._admission = admission
        self._started: float | None = None

    def start_clock(self) -> None:
        self._started = self._admission._clock()

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._admission._release(self._started)


class LoopLag:
    """How late the event loop runs a timer: every ``interval_s`` a timer due then measures it.
    The admission's ``loop_lag`` is the latest lag, or half the previous one if that was worse
    (a spike weighs for a few ticks). One cheap timer per worker, whatever the traffic."""

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
        lag = now - self._due
        admission = self._admission
        admission.loop_lag = max(lag if lag > 0 else 0.0, admission.loop_lag * 0.5)
        self._due = now + self._interval
        self._handle = self._loop.call_at(self._due, self._tick)
