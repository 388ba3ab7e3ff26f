"""Segment's HTTP Tracking API under /segment/v1, served by the request path of /v1 (ingest.py).

What differs from /v1 is all here, as a ``Dialect`` of ingest.py: the write key comes from
HTTP Basic auth (``base64(writeKey + ":")``), the body's ``writeKey`` or ``?writeKey=``; a body
is JSON whatever its Content-Type says (analytics.js sends text/plain, RudderStack's JS SDK
application/json;charset=UTF-8, its Node SDK gzip as application/x-www-form-urlencoded); its
calls become catalogue events through segment.py. RudderStack's SDKs pointed at ``/segment``
reach these routes, and its beacon transport ``BEACON_PATH``. The
rest is the same path: admission, rate limit, validation, enrichment, Kafka and the DLQ.

The answers are the ones Segment's SDKs expect: 200 with the bad events rejected alone (a 400
makes analytics-node drop the whole batch), and a shed request is answered 429 rather than 503,
the one status whose ``Retry-After`` analytics-node and analytics.js honour.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from aiohttp import web

from collector import parse, segment
from collector.auth import first_key
from collector.cors import preflight
from collector.errors import Cause, CollectorError, error_response
from collector.ingest import Collector, ingest
from collector.routes import CORS_POLICY
from collector.settings import CollectorSettings, SegmentMapping
from collector.shedding import ShedRoute

PREFIX = "/segment/v1"
BATCH_PATHS = ("batch", "b")
TELEMETRY_PATH = "m"  # analytics.js's own metrics: answered and discarded
# RudderStack's SDKs take the data plane's root (the collector's /segment) and add /v1/...;
# their browser SDK's sendBeacon transport posts batches here, its key in ?writeKey=.
BEACON_PATH = "/segment/beacon/v1/batch"
# analytics.js sends X-Retry-Count; RudderStack's JS SDK AnonymousId and SentAt, and on a
# resend (a retry, or events reclaimed from another tab's storage) its Rsa-* headers: a
# preflight that does not allow them all makes the browser drop the resend.
ALLOW_HEADERS = (
    "Authorization, Content-Type, Content-Encoding, X-Retry-Count, AnonymousId, SentAt, "
    "Rsa-Recovered, Rsa-Retry-Attempt, Rsa-Retry-Reason, Rsa-Since-First-Attempt, "
    "Rsa-Since-Last-Attempt"
)
SHED_STATUS = 429


@dataclass(frozen=True, slots=True)
class SegmentDialect:
    """One kind of Segment endpoint: a batch (``call_type`` None) or one call of a type."""

    max_body_bytes: int
    max_call_bytes: int
    call_type: str | None

    def key_hints(self, request: web.Request) -> tuple[str | None, str | None]:
        query = request.query.get("writeKey") if request.query_string else None
        return basic_auth_user(request.headers.get("Authorization")), query

    def envelope(
        self, raw: bytes, hints: tuple[str | None, str | None], c: Collector
    ) -> parse.Envelope:
        doc = parse.parse_json(raw)
        if type(doc) is not dict:
            raise CollectorError(Cause.MALFORMED, "body: must be a JSON object")
        sent_at = None
        if self.call_type is None:
            calls = doc.get("batch")
            if type(calls) is not list:
                raise CollectorError(Cause.MALFORMED, "batch: must be an array")
            if len(calls) > c.settings.max_events_per_batch:
                limit = c.settings.max_events_per_batch
                raise CollectorError(
                    Cause.TOO_LARGE, f"batch: {len(calls)} calls, more than the {limit} allowed"
                )
            sent_at = doc.get("sentAt")  # each call's own wins
        else:
            calls = [doc]
        parse.check_event_sizes(calls, len(raw), self.max_call_bytes)
        body_key = doc.get("writeKey")
        body_key = body_key if type(body_key) is str else None
        header_key, query_key = hints
        mapping = mapping_of(c.settings, first_key(header_key, body_key, query_key))
        mapped = segment.to_catalogue(calls, mapping, self.call_type, sent_at)
        for reason, count in mapped.dropped.items():
            c.metrics.segment_dropped.labels(reason).inc(count)
        # sent_at is in each event: a bad one rejects its events, not the batch.
        return parse.Envelope(mapped.events, body_key, None, single=False)


def mapping_of(settings: CollectorSettings, write_key: str | None) -> SegmentMapping:
    """The write key's own mapping, else the global one (an unknown key is refused later)."""
    known = settings.write_keys.get(write_key) if write_key else None
    return known.segment if known is not None and known.segment is not None else settings.segment


def basic_auth_user(header: str | None) -> str | None:
    """The user of ``Authorization: Basic base64(user:password)``: Segment's write key."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def shed_routes(settings: CollectorSettings) -> list[ShedRoute]:
    """The ingestion routes, for the shedder in front of HTTP (worker.py): shed with
    SHED_STATUS too, under their own body limit."""
    paths = [f"{PREFIX}/{path}" for path in (*BATCH_PATHS, *segment.PATH_CALLS)]
    return [
        ShedRoute(path, SHED_STATUS, settings.segment_max_body_bytes)
        for path in (*paths, BEACON_PATH)
    ]


def setup_routes(app: web.Application, settings: CollectorSettings) -> None:
    def dialect(call_type: str | None) -> SegmentDialect:
        return SegmentDialect(
            settings.segment_max_body_bytes, settings.segment_max_call_bytes, call_type
        )

    for path in BATCH_PATHS:
        app.router.add_post(f"{PREFIX}/{path}", _handler(dialect(None)))
    app.router.add_post(BEACON_PATH, _handler(dialect(None)))
    for path, call_type in segment.PATH_CALLS.items():
        app.router.add_post(f"{PREFIX}/{path}", _handler(dialect(call_type)))
    app.router.add_post(f"{PREFIX}/{TELEMETRY_PATH}", telemetry)
    app.router.add_route("OPTIONS", PREFIX + "/{call}", options)


def _handler(dialect: SegmentDialect):
    async def post(request: web.Request) -> web.Response:
        try:
            return await ingest(request, single=False, dialect=dialect)
        except CollectorError as error:
            if error.cause is not Cause.OVERLOADED:
                raise
            response = error_response(error)  # its Retry-After: whole seconds
            response.set_status(SHED_STATUS)
            return response

    return post


async def telemetry(request: web.Request) -> web.Response:
    return web.json_response({"success": True})


async def options(request: web.Request) -> web.Response:
    return preflight(request, request.app[CORS_POLICY], ALLOW_HEADERS, key_param="writeKey")
