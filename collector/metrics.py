"""Prometheus metrics, one set per app (no module singletons), summed across workers.

With several workers, ``python -m collector`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before anything imports prometheus_client: every worker then writes its values to
files there, and ``/metrics``, whichever worker answers it, reads them all (counters and
histograms summed; gauges summed over live workers, or the minimum where noted).
"""

from __future__ import annotations

import asyncio
import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
PREFIX = "surge_collector"


def event_loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """The library whose loop this is: "uvloop", or "asyncio" (its default loop)."""
    return type(loop).__module__.partition(".")[0]


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            f"{PREFIX}_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_request_seconds",
            "Time from admission to answer.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            f"{PREFIX}_events",
            "Events answered, by outcome (accepted, rejected).",
            ["outcome"],
            registry=r,
        )
        self.events_rejected = Counter(
            f"{PREFIX}_events_rejected",
            "Events sent to the DLQ, by reason.",
            ["reason"],
            registry=r,
        )
        self.segment_dropped = Counter(
            f"{PREFIX}_segment_dropped",
            "Segment calls answered but not stored, by reason (schemas/segment.py DROPPED).",
            ["call"],
            registry=r,
        )
        self.requests_refused = Counter(
            f"{PREFIX}_requests_refused",
            "Requests refused whole, by cause (overloaded = shed, rate_limited...).",
            ["cause"],
            registry=r,
        )
        self.events_refused = Counter(
            f"{PREFIX}_events_refused",
            "Events of requests refused whole, when they were counted (after parsing).",
            ["cause"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            f"{PREFIX}_delivery_seconds",
            "Kafka acknowledgement time of a request's records.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            f"{PREFIX}_in_flight", "Requests in progress.", registry=r, multiprocess_mode="livesum"
        )
        self.concurrency_limit = Gauge(
            f"{PREFIX}_concurrency_limit",
            "Concurrency limit (sum over workers).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.loop_lag = Gauge(
            f"{PREFIX}_loop_lag_seconds",
            "How late the event loop runs (max over workers): requests wait that long unseen.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.producer_pending_bytes = Gauge(
            f"{PREFIX}_producer_pending_bytes",
            "Record bytes awaiting Kafka acknowledgement.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.event_loop = Gauge(
            f"{PREFIX}_event_loop_info",
            "1 for the event loop the workers run on (uvloop, or asyncio's own).",
            ["loop"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.sink_healthy = Gauge(
            f"{PREFIX}_kafka_healthy",
            "1 when Kafka is available (minimum over workers).",
            registry=r,
            multiprocess_mode="livemin",
        )

        # Label children of the hot path, looked up once (labels() costs a lock and a dict).
        self.accepted = self.events.labels("accepted")
        self.rejected = self.events.labels("rejected")
        self._refused: dict[str, tuple] = {}
        self._answers: dict[tuple[str, int], tuple] = {}
        self._refused_early: dict[tuple[str, int, str], int] = {}

    def refused_early(self, route: str, status: int, cause: str) -> None:
        """A request refused before aiohttp parsed it (shedding.py): counted in ``requests``
        and ``requests_refused`` on the next ``flush()`` (not in the latency histogram: it had
        no admission). Counted in bulk: such an answer is meant to cost next to nothing."""
        key = (route, status, cause)
        self._refused_early[key] = self._refused_early.get(key, 0) + 1

    def flush(self) -> None:
        """Add the counts kept by refused_early (every second, and before each render)."""
        counts, self._refused_early = self._refused_early, {}
        for (route, status, cause), n in counts.items():
            self.requests.labels(route, str(status)).inc(n)
            self.requests_refused.labels(cause).inc(n)

    def refused(self, cause: str, events: int) -> None:
        """A request refused whole, with its events when they were counted."""
        children = self._refused.get(cause)
        if children is None:
            children = (self.requests_refused.labels(cause), self.events_refused.labels(cause))
            self._refused[cause] = children
        children[0].inc()
        if events:
            children[1].inc(events)

    def answered(self, route: str, status: int, seconds: float) -> None:
        children = self._answers.get((route, status))
        if children is None:
            children = (
                self.requests.labels(route, str(status)),
                self.request_seconds.labels(route),
            )
            self._answers[(route, status)] = children  # bounded: routes x statuses
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The text exposition, of all workers when running several."""
        self.flush()
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def observe_middleware(metrics: Metrics):
    """Requests by route and status, and their latency (from admission to answer)."""
    from aiohttp import web

    names: dict[object, str] = {}  # resource -> its route label

    @web.middleware
    async def middleware(request: web.Request, handler):
        started = time.monotonic()
        response = await handler(request)
        resource = request.match_info.route.resource
        name = names.get(resource)
        if name is None:
            name = resource.canonical if resource is not None else "unmatched"
            names[resource] = name
        metrics.answered(name, response.status, time.monotonic() - started)
        return response

    return middleware
