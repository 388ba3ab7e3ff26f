"""The app factory: routes, middlewares, and the worker's resources in ``cleanup_ctx``.

Middlewares, outermost first: CORS headers on every answer, then metrics of every answer,
then errors turned into JSON answers (errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from collector.admission import Admission, LoopLag
from collector.auth import WriteKeys
from collector.cors import CorsPolicy, cors_middleware
from collector.errors import error_middleware
from collector.events import EventRules
from collector.ingest import COLLECTOR, Collector
from collector.metrics import Metrics, event_loop_name, observe_middleware
from collector.ratelimit import RateLimiter
from collector.routes import CORS_POLICY, setup_routes
from collector.segment_api import setup_routes as setup_segment_routes
from collector.settings import CollectorSettings
from collector.sink import KafkaSink, Sink
from collector.validation import EnvelopeChecker, Validator, load_validators

SETTINGS = web.AppKey("settings", CollectorSettings)
METRICS = web.AppKey("metrics", Metrics)
GAUGE_INTERVAL_S = 1.0


def create_app(
    settings: CollectorSettings,
    *,
    sink: Sink | None = None,
    validators: tuple[Validator, EnvelopeChecker] | None = None,
) -> web.Application:
    """``sink``: a ready sink (tests); by default a Kafka sink started and closed with the app."""
    metrics = Metrics()
    policy = CorsPolicy(
        settings.cors_origins,
        {k: v.cors_origins for k, v in settings.write_keys.items() if v.cors_origins is not None},
    )
    app = web.Application(
        middlewares=[cors_middleware(policy), observe_middleware(metrics), error_middleware]
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[CORS_POLICY] = policy
    app.cleanup_ctx.append(_collector(sink, validators))
    app.on_shutdown.append(_drain)
    setup_routes(app)
    setup_segment_routes(app, settings)
    return app


def runner_kwargs(settings: CollectorSettings) -> dict[str, Any]:
    """Server options for AppRunner / TestServer / run_app."""
    return {
        # body.py decompresses with a cap; aiohttp's own would run before any check.
        "auto_decompress": False,
        # No line per request (an INFO log per request would cost more than the request).
        "access_log": None,
        "shutdown_timeout": settings.shutdown_grace_s,
        "lingering_time": 2.0,
        # aiohttp's idle deadline also runs while a request's head is still arriving: one
        # setting closes idle connections and slow senders alike.
        "keepalive_timeout": settings.idle_timeout_s,
    }


def _collector(sink: Sink | None, validators: tuple[Validator, EnvelopeChecker] | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings, metrics = app[SETTINGS], app[METRICS]
        metrics.event_loop.labels(event_loop_name(asyncio.get_running_loop())).set(1)
        validator, envelopes = validators or load_validators()
        owned = sink is None
        the_sink = KafkaSink(settings, metrics) if owned else sink
        if owned:
            await the_sink.start()
        collector = Collector(
            settings=settings,
            admission=_admission(settings),
            limiter=_limiter(settings),
            keys=WriteKeys(settings.write_keys),
            rules=EventRules.of(settings, validator),
            envelopes=envelopes,
            sink=the_sink,
            metrics=metrics,
        )
        app[COLLECTOR] = collector
        lag = LoopLag(collector.admission, settings.loop_lag_interval_ms / 1000)
        lag.start()
        gauges = asyncio.create_task(_publish_gauges(collector))
        try:
            yield
        finally:
            lag.stop()
            gauges.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gauges
            metrics.flush()
            if owned:
                # Flush what the producer holds; requests still waiting were answered 503.
                await the_sink.close(flush_timeout_s=settings.shutdown_grace_s)

    return ctx


def _admission(s: CollectorSettings) -> Admission:
    return Admission(s.max_in_flight, s.max_retry_after_s)


def _limiter(s: CollectorSettings) -> RateLimiter:
    rates = {key: wk.events_per_s or s.events_per_s for key, wk in s.write_keys.items()}
    return RateLimiter.per_worker(
        rates, workers=s.workers, burst_s=s.burst_s, min_capacity=s.max_events_per_batch
    )


async def _drain(app: web.Application) -> None:
    # Shutdown started (the listening sockets are closed): tell the balancer at once.
    if COLLECTOR in app:
        app[COLLECTOR].draining = True


async def _publish_gauges(c: Collector) -> None:
    # Gauges are set on a tick, not per request: in multiprocess mode each set is a file write.
    while True:
        c.admission.new_period()
        c.metrics.flush()
        c.metrics.in_flight.set(c.admission.in_flight)
        c.metrics.concurrency_limit.set(c.admission.max_in_flight)
        c.metrics.loop_lag.set(c.admission.loop_lag)
        c.metrics.producer_pending_bytes.set(c.sink.pending_bytes())
        c.metrics.sink_healthy.set(1 if c.sink.is_healthy() else 0)
        await asyncio.sleep(GAUGE_INTERVAL_S)
