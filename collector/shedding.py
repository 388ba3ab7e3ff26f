"""Shedding below HTTP: an overloaded worker answers a new ingestion request with a prebuilt 503
straight from the connection's bytes, before aiohttp parses them into a request.

Why: a 503 that goes through aiohttp (parser, request object, middlewares, response) costs the
worker a good share of an admitted batch's CPU (bench/bench_answer_cost.py measures it), and
under a surge many times its capacity those answers alone would take the CPU from the requests
it admitted. Answered here, a shed request costs a few byte searches.

A request is answered here only when all of these hold, else its bytes go to aiohttp untouched
(whose request path still sheds, the expensive way):
- admission is full (``Admission.full``, the same test ``admit`` makes, which also counts the
  requests seen arriving here whose handler has not run yet; one that never runs, refused by
  aiohttp or left by its client, gives its place back when its connection closes or aiohttp
  has answered all the connection gave it);
- the bytes start a request: the connection's previous requests went to aiohttp with a known
  length (Content-Length, or none), and this one starts where they end; or aiohttp waits for
  the next request;
- aiohttp has answered them all: nothing queued or in progress, so this answer cannot overtake
  one of its answers;
- the bytes are a POST to /v1/batch or /v1/event and hold its whole header block.

The connection is kept and the body skipped by its Content-Length (none: an empty body). Where
the body's end is not certain (chunked, ``Expect: 100-continue``, several or a bad
Content-Length), the body is longer than the route's request path would read (its
``max_body_bytes``) or the client asked for it (HTTP/1.0, ``Connection: close``), the 503 says
``Connection: close`` and the connection is closed after it. The answer is the request path's
own (errors.py: body, ``Retry-After``), with the CORS headers cors.py gives a shed answer, and
is counted in the same request counters (once a second, see Metrics.refused_early).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Iterable
from typing import NamedTuple

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from collector.admission import OVERLOADED_MESSAGE, Admission
from collector.cors import CorsPolicy
from collector.errors import Cause, CollectorError, error_response
from collector.metrics import Metrics
from collector.routes import BATCH_PATH, EVENT_PATH
from collector.settings import CollectorSettings


class ShedRoute(NamedTuple):
    """A route shed here: the status of its shed answer (an API whose clients expect 429 for
    "slow down" registers its routes with 429), and the longest body its request path reads
    (a longer one is not skipped: the connection closes after the answer)."""

    path: str
    status: int
    max_body_bytes: int


def v1_shed_routes(settings: CollectorSettings) -> list[ShedRoute]:
    """The ingestion routes of /v1, shed with 503."""
    return [ShedRoute(path, 503, settings.max_body_bytes) for path in (BATCH_PATH, EVENT_PATH)]


_REASONS = {503: "Service Unavailable", 429: "Too Many Requests"}
_POST = b"POST "
_MAX_TARGET = 256  # longer request targets are no route of ours
_HEAD_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"
_CHUNKED = b"\r\ntransfer-encoding:"
_CLOSE_IF = (b"\r\nexpect:", b"\r\nconnection: close")


class Shedder:
    """Answers the requests to shed here, and counts those it lets through as arriving."""

    def __init__(
        self,
        admission: Admission,
        metrics: Metrics,
        cors: CorsPolicy,
        routes: Iterable[ShedRoute],
    ):
        self._admission, self._metrics, self._cors = admission, metrics, cors
        self._routes = {route.path.encode(): route for route in routes}
        shed = error_response(CollectorError(Cause.OVERLOADED, OVERLOADED_MESSAGE))
        assert shed.body is not None and isinstance(shed.body, bytes)
        self._heads = {  # the request path's answer, under each status
            status: (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: {shed.content_type}\r\n"
                f"Content-Length: {len(shed.body)}\r\n"
            ).encode()
            for status in {route.status for route in self._routes.values()}
        }
        self._body = shed.body
        # (status, origin, close, Retry-After) -> answer
        self._answers: dict[tuple[int, bytes, bool, int], bytes] = {}

    def sheds(self, data: bytes, connection: Hashable, may_answer: bool) -> ShedRoute | None:
        """The route of the request ``data`` starts on ``connection``, if it is one to shed
        here now (only when ``may_answer``: aiohttp has answered all before it).
        An ingestion request let through is counted as arriving, even one that aiohttp will
        shed: it holds its own place in the admission until its handler runs, and ``admit()``
        gives that place back."""
        route = self._routes.get(_path(data)) if data.startswith(_POST) else None
        if route is None:
            return None
        if may_answer:
            # All before it answered: an arrival of them still held never reached admit()
            # (aiohttp refused it, or answered before the handler ran).
            self._admission.settle(connection)
            if self._admission.full():
                return route
        self._admission.arrive(connection)
        return None

    def closed(self, connection: Hashable) -> None:
        """The connection is gone: its arrivals that never reached admit() give back their
        places (a request aiohttp refused, 400 and close; a client that left)."""
        self._admission.settle(connection)

    def answer(
        self, route: ShedRoute, data: bytes, head: bytes, length: int | None
    ) -> tuple[bytes, bool]:
        """The answer to a shed request, and whether its connection must close after it."""
        close = (
            length is None
            or length > route.max_body_bytes
            or not head[: head.find(b"\r\n")].endswith(b" http/1.1")
            or any(marker in head for marker in _CLOSE_IF)
        )
        self._metrics.refused_early(route.path, route.status, Cause.OVERLOADED.value)
        retry = self._admission.refused().retry_after_s
        return self._answer(route.status, _origin(data, head), close, retry), close

    def _answer(self, status: int, origin: bytes, close: bool, retry: int) -> bytes:
        key = (status, origin, close, retry)
        answer = self._answers.get(key)
        if answer is None:
            head = self._heads[status] + b"Retry-After: %d\r\n" % retry
            allowed = self._cors.allow_origin(origin.decode("latin-1"), None) if origin else None
            if allowed is not None:  # as cors.py answers a shed request: before its key is known
                head += (
                    f"Access-Control-Allow-Origin: {allowed}\r\n"
                    "Access-Control-Expose-Headers: Retry-After\r\nVary: Origin\r\n"
                ).encode()
            if close:
                head += b"Connection: close\r\n"
            answer = head + b"\r\n" + self._body
            if len(self._answers) < 1024:  # origins seen: a few, unless someone varies them
                self._answers[key] = answer
        return answer


class ShedFirst(asyncio.Protocol):
    """aiohttp's protocol of one connection, with the shedder in front of its reads.

    It follows the connection's request boundaries: each request's head says how long the
    request is (Content-Length; none is an empty body). A request it cannot measure
    (chunked, several lengths, a head split over reads) loses the thread until aiohttp
    waits for a request again, which is then a boundary too.
    """

    def __init__(self, handler: RequestHandler, shedder: Shedder):
        self._handler = handler
        self._shedder = shedder
        self._transport: asyncio.Transport | None = None
        self._passing = 0  # bytes of the current request still to go to aiohttp
        self._skipping = 0  # bytes of a request answered here still to drop
        self._at_boundary = True  # the next byte starts a request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        handler = self._handler
        while data:
            if self._skipping or self._passing:
                n = min(self._skipping or self._passing, len(data))
                if self._skipping:
                    self._skipping -= n
                else:
                    self._passing -= n
                    handler.data_received(data[:n])
                data = data[n:]
                continue
            if not (self._at_boundary or waits_for_request(handler)):
                handler.data_received(data)
                return
            self._at_boundary = True  # found again, if it was lost
            end = data.find(_HEAD_END)
            if end < 0:  # a head split over reads: not followed further
                self._at_boundary = False
                handler.data_received(data)
                return
            head = data[:end].lower()
            length = _body_length(head)
            size = None if length is None else end + len(_HEAD_END) + length
            route = self._shedder.sheds(data, handler, answered_all(handler))
            if route is not None:
                answer, close = self._shedder.answer(route, data, head, length)
                assert self._transport is not None
                self._transport.write(answer)
                if close or size is None:
                    self._transport.close()
                    return
                self._skipping = size
            elif size is None:
                self._at_boundary = False
                handler.data_received(data)
                return
            else:
                self._passing = size

    def eof_received(self) -> bool | None:
        return self._handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._handler.connection_lost(exc)
        self._shedder.closed(self._handler)

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()


def shed_first(server: web.Server, shedder: Shedder) -> Callable[[], ShedFirst]:
    """The protocol factory of the collector's listening socket: aiohttp's low-level server
    (itself a protocol factory, its documented use) with the shedder in front."""
    return lambda: ShedFirst(server(), shedder)


# The seam: aiohttp's state of a connection, read from RequestHandler's private attributes,
# the only private names used. aiohttp is pinned exactly (pyproject.toml) and
# tests/collector/test_shedding.py::test_the_aiohttp_seam fails if they change meaning.


def waits_for_request(handler: RequestHandler) -> bool:
    """aiohttp's loop of this connection waits for its next request: none queued, none in
    progress, no body being read (its ``_waiter`` exists only then)."""
    waiter = handler._waiter
    return waiter is not None and not waiter.done()


def answered_all(handler: RequestHandler) -> bool:
    """aiohttp has written its answer to every request it was given on this connection."""
    return not handler._request_in_progress and not handler._messages


def _path(data: bytes) -> bytes:
    """The path of the request line ``data`` starts with (after ``POST ``, before the query)."""
    end = data.find(b" ", len(_POST), len(_POST) + _MAX_TARGET)
    return data[len(_POST) : end].partition(b"?")[0] if end > 0 else b""


def _body_length(head: bytes) -> int | None:
    """The body's length from a lower-cased header block: its one Content-Length, 0 without
    one; None when unknown (Transfer-Encoding, several or a bad Content-Length)."""
    start = head.find(_LENGTH)
    if start < 0:
        return None if _CHUNKED in head else 0
    if head.find(_LENGTH, start + 1) >= 0 or _CHUNKED in head:
        return None
    start += len(_LENGTH)
    stop = head.find(b"\r\n", start)
    value = head[start : stop if stop >= 0 else len(head)].strip()
    return int(value) if value.isdigit() else None


def _origin(data: bytes, head: bytes) -> bytes:
    """The Origin header's value, as sent (``head``: the header block lower-cased)."""
    start = head.find(b"\r\norigin:")
    if start < 0:
        return b""
    start += len(b"\r\norigin:")
    stop = head.find(b"\r\n", start)
    return data[start : stop if stop >= 0 else len(head)].strip()
