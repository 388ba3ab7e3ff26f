"""Admission: the first and cheapest step, before a byte of the body is read.

Two limits per worker:
- a hard cap on requests in progress (memory: each holds at most one body);
- an adaptive concurrency limit, BBR-style (in progress above max throughput x min latency is
  shed): twice the requests the worker has in progress at its best recent rate and its
  unloaded latency (Little's law). So under a surge the worker keeps only as many
  requests in progress as it can finish at about its normal latency and sheds the rest at
  once, instead of letting every request queue behind the event loop.

It replaced a Gradient2 limit (latency now against its long-run average), which let the limit
climb once the average had drifted up in a long surge: at three times the capacity,
bench_collector measured admitted p99 0.8-1.3 s with it, 71 ms with this one.

The latency sampled is the server's own work (body received -> answer), not the client's
upload time, so a slow phone does not look like an overloaded worker, plus the event loop's
current lag (``LoopLag``): the time a request's bytes wait before the loop even reads them,
which the handler cannot see and which is exactly what grows when the worker's CPU is the
bottleneck (requests queue in front of the loop, not in it).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from collector.errors import Cause, CollectorError

OVERLOADED_MESSAGE = "collector overloaded: retry later"


class AdaptiveLimit:
    """In-flight limit = gain x the most requests finished per second lately x the least
    latency lately: the concurrency the worker can keep busy without a queue, with headroom.

    Measured in windows of ``window_s``: the rate of finished requests and their mean latency.
    The rate is the best of the last ``rate_windows`` windows (it only shows the capacity while
    the limit is used: an idle worker does not lower it), the latency the least mean of the
    last ``rtt_windows`` (queueing only adds to latency: the least is the work itself). Means,
    not single requests: one request's latency swings with Kafka's batching (a request acked
    the moment it was sent looks far faster than the work is), a window's mean much less.
    While the limit is what holds the rate back, rate = limit / latency, so each window
    multiplies the limit by ``gain``: from a quiet minute a surge reaches the capacity in a
    few windows. Past the capacity the rate stops rising, and the limit settles at gain x
    capacity x latency, so what is admitted is served at near its unloaded latency and the
    rest is shed at once. If the work itself slows (Kafka), the rate drops and the limit
    follows it down until the old least latency ages out of its windows.
    """

    def __init__(
        self,
        initial: int,
        min_limit: int,
        max_limit: int,
        *,
        gain: float = 2.0,
        window_s: float = 0.1,
        rate_windows: int = 20,  # ~2 s
        rtt_windows: int = 100,  # ~10 s
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = float(initial)
        self._min, self._max, self._gain = min_limit, max_limit, gain
        self._window_s, self._clock = window_s, clock
        self._rates: deque[float] = deque(maxlen=rate_windows)
        self._rtts: deque[float] = deque(maxlen=rtt_windows)
        self._window_start = clock()
        self._count = 0
        self._sum = 0.0

    def sample(self, rtt_s: float) -> None:
        """One finished request: its latency."""
        self._count += 1
        self._sum += rtt_s
        now = self._clock()
        if now - self._window_start >= self._window_s:
            self._rates.append(self._count / (now - self._window_start))
            self._rtts.append(self._sum / self._count)
            self._count, self._sum, self._window_start = 0, 0.0, now
            target = self._gain * max(self._rates) * min(self._rtts)
            self.limit = max(float(self._min), min(float(self._max), target))


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
            self.limit.sample(self._clock() - started + self.loop_lag)
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
