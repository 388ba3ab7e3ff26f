"""The request path of POST /v1/batch and /v1/event (and of /segment/v1, a ``Dialect``),
top to bottom.

    admit -> key known? -> bucket empty? -> read body -> parse -> write key -> rate limit
          -> per event: structure, schema, enrich (events.py) -> Kafka (events and DLQ) -> answer

Each step is a module of its own that knows nothing of HTTP; this one only takes what they need
from the request. The cheap refusals come first: shedding (admission) and a wrong or throttled
key given in the header or URL cost no body read. Every refusal is a ``CollectorError``, turned
into an answer in errors.py. Cheaper still, an overloaded worker sheds most requests before they
get here, from their raw bytes (shedding.py); ``admit`` sheds the few that slip through.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

import orjson
from aiohttp import web

from collector import body, enrich, parse
from collector.admission import Admission
from collector.auth import WriteKeys, first_key
from collector.cors import WRITE_KEY
from collector.enrich import RequestFacts
from collector.errors import Cause, CollectorError
from collector.events import EventRules, Outcome, process
from collector.metrics import Metrics
from collector.ratelimit import RateLimiter
from collector.settings import CollectorSettings
from collector.sink import Sink
from collector.validation import EnvelopeChecker


@dataclass
class Collector:
    """Everything the request path uses, built once per worker (app.py)."""

    settings: CollectorSettings
    admission: Admission
    limiter: RateLimiter
    keys: WriteKeys
    rules: EventRules
    envelopes: EnvelopeChecker
    sink: Sink
    metrics: Metrics
    draining: bool = False


COLLECTOR = web.AppKey("collector", Collector)


class Dialect(Protocol):
    """Another wire protocol served by this path (segment_api.py): where its write key may be,
    how large its body may be (of any Content-Type) and how it becomes an envelope of events."""

    max_body_bytes: int

    def key_hints(self, request: web.Request) -> tuple[str | None, str | None]:
        """The write key of the headers, and of the URL."""
        ...

    def envelope(
        self, raw: bytes, hints: tuple[str | None, str | None], c: Collector
    ) -> parse.Envelope:
        """The events of ``raw``, and its write key; ``hints``: those of ``key_hints``."""
        ...


async def ingest(
    request: web.Request, *, single: bool, dialect: Dialect | None = None
) -> web.Response:
    c = request.app[COLLECTOR]
    s = c.settings
    events = 0
    try:
        if dialect is None:
            header_key = request.headers.get("X-Write-Key")
            query_key = request.query.get("write_key") if request.query_string else None
        else:
            header_key, query_key = dialect.key_hints(request)
        with c.admission.admit(request.protocol):  # its connection: see shedding.py
            hinted = first_key(header_key, query_key)
            c.keys.check_known(hinted)
            if hinted:
                c.limiter.precheck(hinted)
            try:
                async with asyncio.timeout(s.request_timeout_s):
                    raw = await _read_body(request, s, dialect)
                    received_ms = time.time_ns() // 1_000_000
                    if dialect is None:
                        envelope = parse.envelope(raw, single, s.max_events_per_batch, c.envelopes)
                    else:
                        envelope = dialect.envelope(raw, (header_key, query_key), c)
                    events = len(envelope.events)
                    key = first_key(header_key, envelope.write_key, query_key)
                    app = c.keys.resolve(key)
                    request[WRITE_KEY] = key
                    c.limiter.take(key, events)
                    facts = _facts(request, s, app.app_id, envelope.sent_at, received_ms)
                    outcome = process(envelope.events, len(raw), facts, c.rules)
                    await c.sink.send_batch(outcome.records, outcome.dead)
            except TimeoutError:
                raise CollectorError(
                    Cause.DEADLINE,
                    f"request not done within {s.request_timeout_s:g} s: retry later",
                ) from None
    except CollectorError as error:
        c.metrics.refused(error.cause.value, events)
        raise
    return _answer(outcome, single, c.metrics)


async def _read_body(
    request: web.Request, s: CollectorSettings, dialect: Dialect | None = None
) -> bytes:
    limit = s.max_body_bytes
    if dialect is None:
        declared = "Content-Type" in request.headers  # aiohttp defaults a missing one
        body.check_content_type(request.content_type if declared else "", request.charset)
    else:
        limit = dialect.max_body_bytes
    gzipped = body.check_content_encoding(request.headers.get("Content-Encoding", ""))
    body.check_declared_length(request.content_length, limit)
    raw = await body.read_capped(request.content, limit, s.body_timeout_s)
    return body.gunzip(raw, s.max_decompressed_bytes) if gzipped else raw


def _facts(
    request: web.Request,
    s: CollectorSettings,
    app_id: str,
    sent_at: str | int | None,
    received_ms: int,
) -> RequestFacts:
    ip = enrich.client_ip(request.remote, request.headers.get("X-Forwarded-For"), s.forwarded_hops)
    return RequestFacts.at(
        received_ms,
        app_id=app_id,
        ip=enrich.truncate_ip(ip) if s.ip_truncate else ip,
        user_agent=enrich.user_agent(request.headers.get("User-Agent")),
        sent_at=sent_at,
        max_future_ms=int(s.max_future_skew_s * 1000),
    )


def _answer(outcome: Outcome, single: bool, metrics: Metrics) -> web.Response:
    accepted = len(outcome.records)
    if accepted:
        metrics.accepted.inc(accepted)
    rejected = outcome.rejected
    if rejected:
        metrics.rejected.inc(len(rejected))
        for event in rejected:
            metrics.events_rejected.labels(event.reason).inc()
        if single:  # the one event was refused; it is in the DLQ
            raise CollectorError(Cause.INVALID_EVENT, rejected[0].message)
    answered = [{"index": event.index, "error": event.message} for event in rejected]
    return web.Response(
        body=orjson.dumps({"accepted": accepted, "rejected": answered}),
        headers={"Content-Type": "application/json"},
    )
