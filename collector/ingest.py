"""The request path of POST /v1/batch and /v1/event, top to bottom.

    admit -> key known? -> bucket empty? -> read body -> parse -> write key -> rate limit
          -> per event: structure, schema, enrich -> Kafka (events and DLQ) -> answer

Each step is a module of its own that knows nothing of HTTP; this one only takes what they need
from the request. The cheap refusals come first: shedding (admission) and a wrong or throttled
key given in the header or URL cost no body read. Every refusal is a ``CollectorError``, turned
into an answer in errors.py. Cheaper still, an overloaded worker sheds most requests before they
get here, from their raw bytes (shedding.py); ``admit`` sheds the few that slip through.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from collector import body, enrich, parse
from collector.admission import Admission
from collector.auth import WriteKeys, first_key
from collector.cors import WRITE_KEY
from collector.enrich import RequestFacts
from collector.errors import Cause, CollectorError
from collector.metrics import Metrics
from collector.ratelimit import RateLimiter
from collector.records import Record, dead_record, event_record
from collector.settings import CollectorSettings
from collector.sink import Sink
from collector.validation import EnvelopeChecker, Validator


@dataclass
class Collector:
    """Everything the request path uses, built once per worker (app.py)."""

    settings: CollectorSettings
    admission: Admission
    limiter: RateLimiter
    keys: WriteKeys
    validator: Validator
    envelopes: EnvelopeChecker
    sink: Sink
    metrics: Metrics
    draining: bool = False


COLLECTOR = web.AppKey("collector", Collector)


@dataclass(slots=True)
class Outcome:
    records: list[Record] = field(default_factory=list)
    dead: list[Record] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


async def ingest(request: web.Request, *, single: bool) -> web.Response:
    c = request.app[COLLECTOR]
    s = c.settings
    events = 0
    try:
        header_key = request.headers.get("X-Write-Key")
        query_key = request.query.get("write_key") if request.query_string else None
        with c.admission.admit():
            hinted = first_key(header_key, query_key)
            c.keys.check_known(hinted)
            if hinted:
                c.limiter.precheck(hinted)
            try:
                async with asyncio.timeout(s.request_timeout_s):
                    raw = await _read_body(request, s)
                    received_ms = time.time_ns() // 1_000_000
                    envelope = _parse(raw, single, c)
                    events = len(envelope.events)
                    key = first_key(header_key, envelope.write_key, query_key)
                    app = c.keys.resolve(key)
                    request[WRITE_KEY] = key
                    c.limiter.take(key, events)
                    facts = _facts(request, s, app.app_id, envelope.sent_at, received_ms)
                    parse.check_event_sizes(envelope.events, len(raw), s.max_event_bytes)
                    outcome = _process(envelope.events, facts, key, c)
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


async def _read_body(request: web.Request, s: CollectorSettings) -> bytes:
    declared = "Content-Type" in request.headers  # aiohttp defaults a missing one
    body.check_content_type(request.content_type if declared else "", request.charset)
    gzipped = body.check_content_encoding(request.headers.get("Content-Encoding", ""))
    body.check_declared_length(request.content_length, s.max_body_bytes)
    raw = await body.read_capped(request.content, s.max_body_bytes, s.body_timeout_s)
    return body.gunzip(raw, s.max_decompressed_bytes) if gzipped else raw


def _parse(raw: bytes, single: bool, c: Collector) -> parse.Envelope:
    doc = parse.parse_json(raw)
    if single:
        return parse.single_envelope(doc)
    return parse.batch_envelope(doc, c.settings.max_events_per_batch, c.envelopes)


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


def _process(events: list[Any], facts: RequestFacts, write_key: str, c: Collector) -> Outcome:
    """Each event on its own: a bad one goes to the DLQ, the others are kept."""
    outcome = Outcome()
    records = outcome.records
    max_depth = c.settings.max_json_depth
    validate, version = c.validator.validate, c.validator.schema_version
    structure_problem, enrich_event = parse.structure_problem, enrich.enrich
    for index, event in enumerate(events):
        problem = structure_problem(event, max_depth) or validate(event)
        if problem is None:
            try:
                enriched = enrich_event(event, facts, version(event["type"]))
            except ValueError as exc:  # the schema let through a time parse_time refuses
                problem = f"ts: {exc}"
            else:
                records.append(event_record(enriched))
                continue
        outcome.rejected.append({"index": index, "error": problem})
        outcome.dead.append(dead_record(event, problem, index, write_key, facts))
        c.metrics.events_rejected.labels(_reason(event, problem)).inc()
    return outcome


def _reason(event: Any, problem: str) -> str:
    """A closed set for the metric label (the message itself is open-ended)."""
    if type(event) is not dict:
        return "not_an_object"
    if problem.startswith("type:"):
        return "unknown_type"
    if "nested deeper" in problem or "number too large" in problem:
        return "structure"
    return "schema"


def _answer(outcome: Outcome, single: bool, metrics: Metrics) -> web.Response:
    accepted = len(outcome.records)
    if accepted:
        metrics.accepted.inc(accepted)
    if outcome.rejected:
        metrics.rejected.inc(len(outcome.rejected))
        if single:  # the one event was refused; it is in the DLQ
            raise CollectorError(Cause.INVALID_EVENT, outcome.rejected[0]["error"])
    return web.Response(
        body=orjson.dumps({"accepted": accepted, "rejected": outcome.rejected}),
        headers={"Content-Type": "application/json"},
    )
