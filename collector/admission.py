"""Admission: the first and cheapest step, before a byte of the body is read.

One limit per worker: a cap on requests in progress, derived from the worker's measured
capacity times its unloaded latency, with room (settings.max_in_flight). A worker's work is
CPU: the cap bounds the admitted work one turn of its event loop can hold, so that what is
admitted is served at about its unloaded latency and a shed answer (shedding.py) does not
wait behind much admitted work; the rest is shed at once. Requests waiting on Kafka hold their
place too, so a slow Kafka lowers the rate admitted: that is the back-pressure wanted.

It replaced two adaptive limits that the overload bench (bench/bench_collector.py) measured
worse side by side: a BBR-like one (best rate x least latency) and one cut by a standing
event-loop lag (CoDel-style). On a noisy 2-core machine both moved with the noise, shed more
below the capacity and let more queue above it.

``Retry-After`` grows with the overload and is spread: a shed client is told to come back in
a whole number of seconds drawn from 1 .. the ratio of the requests offered to those admitted
lately, so the retries of a surge three times the capacity spread over three seconds.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Hashable

from collector.errors import Cause, CollectorError

OVERLOADED_MESSAGE = "collector overloaded: retry later"


class Admission:
    """Counts requests in progress; ``admit()`` returns a ticket or sheds with OVERLOADED."""

    def __init__(
        self,
        max_in_flight: int,
        max_retry_after_s: int = 30,
        rand: Callable[[int, int], int] = random.randint,
    ):
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        # Requests seen arriving (shedding.py) whose handler has not called admit() yet: aiohttp
        # starts a handler a loop turn or two after the bytes came, and every request read in
        # between would otherwise find the same free slot, pass, and be shed the dear way.
        # Kept by connection too, so that a connection gives back the places of its arrivals
        # that never reach admit() (aiohttp refused the request, the client left) at once.
        self.arriving = 0
        self._arrivals: dict[Hashable, int] = {}  # connection -> its arrivals not admitted yet
        self.loop_lag = 0.0  # seconds, kept up to date by LoopLag
        self.admitted = self.shed = 0  # since the last ``new_period()``
        self._overload = 1.0  # offered / admitted over the last period
        self._max_retry = max_retry_after_s
        self._rand = rand

    def full(self) -> bool:
        """A request arriving now would be shed (shedding.py asks before aiohttp parses it)."""
        return self.in_flight + self.arriving >= self.max_in_flight

    def arrive(self, connection: Hashable) -> None:
        """A request was seen arriving on ``connection``: hold it a place until its admit()."""
        self.arriving += 1
        self._arrivals[connection] = self._arrivals.get(connection, 0) + 1

    def settle(self, connection: Hashable) -> None:
        """No arrival of ``connection`` will call admit() any more (it is closed, or its
        server has answered all it was given): give back the places they still hold."""
        self.arriving -= self._arrivals.pop(connection, 0)

    def refused(self) -> CollectorError:
        """Count one shed request; its error, with a Retry-After of its own."""
        self.shed += 1
        return CollectorError(Cause.OVERLOADED, OVERLOADED_MESSAGE, self.retry_after_s())

    def retry_after_s(self) -> int:
        """Whole seconds, drawn from 1 .. the overload of the last period (at least 2, so that
        retries always spread), at most ``max_retry_after_s``."""
        return self._rand(1, min(self._max_retry, max(2, math.ceil(self._overload))))

    def new_period(self) -> None:
        """Called every second: the overload of the period that ends."""
        offered = self.admitted + self.shed
        self._overload = offered / max(1, self.admitted) if self.shed else 1.0
        self.admitted = self.shed = 0

    def admit(self, connection: Hashable | None = None) -> Ticket:
        """``connection``: the one the request came on, whose arrival's place is its own."""
        held = self._arrivals.get(connection)
        if held:
            self.arriving -= 1
            if held == 1:
                del self._arrivals[connection]
            else:
                self._arrivals[connection] = held - 1
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
    """How late the event loop runs a timer (a metric: requests wait that long before the
    loop reads them): every ``interval_s`` a timer due then measures it. One cheap timer per
    worker, whatever the traffic."""

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
        self._admission.loop_lag = max(0.0, now - self._due)
        self._due = now + self._interval
        self._handle = self._loop.call_at(self._due, self._tick)
