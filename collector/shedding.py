"""Shedding below HTTP: an overloaded worker answers a new ingestion request with a prebuilt 503
straight from the connection's bytes, before aiohttp parses them into a request.

Why: a 503 that goes through aiohttp (parser, request object, middlewares, response) costs the
worker ~100 µs of CPU, a sixth of an admitted 20-event batch (bench/bench_answer_cost.py). At
three times the worker's capacity the shed answers alone took ~0.6 of a core, taken from the
requests it had admitted. Answered here, a shed request costs a few byte searches.

A request is answered here only when all of these hold, else its bytes go to aiohttp untouched
(whose request path still sheds, the expensive way):
- admission is full (``Admission.full``, the same test ``admit`` makes, which also counts the
  requests seen arriving here whose handler has not run yet);
- aiohttp waits for the connection's next request: nothing of its own queued or in progress,
  so this answer cannot overtake one of its answers;
- the bytes start a POST to /v1/batch or /v1/event and hold its whole header block.

The connection is kept and the body skipped by its Content-Length. Where the body's end is not
certain (chunked, ``Expect: 100-continue``, no or several Content-Length), the body is longer
than the request path would read (``max_body_bytes``) or the client asked for it (HTTP/1.0,
``Connection: close``), the 503 says ``Connection: close`` and the connection
is closed after it. The answer is the request path's own (errors.py: body, ``Retry-After``), with
the CORS headers cors.py gives a shed answer, and is counted in the same request counters
(once a second, see Metrics.refused_early).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from collector.admission import OVERLOADED_MESSAGE, Admission
from collector.cors import CorsPolicy
from collector.errors import Cause, CollectorError, error_response
from collector.ingest import COLLECTOR
from collector.metrics import Metrics
from collector.routes import CORS_POLICY

_POST = b"POST /v1/"
_ROUTES = {
    b"batch ": "/v1/batch",
    b"batch?": "/v1/batch",
    b"event ": "/v1/event",
    b"event?": "/v1/event",
}
_HEAD_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"
_CLOSE_IF = (b"\r\ntransfer-encoding:", b"\r\nexpect:", b"\r\nconnection: close")
CLOSE = -1


class Shedder:
    """Decides whether a connection's bytes are a request to shed here, and answers it."""

    def __init__(
        self, admission: Admission, metrics: Metrics, cors: CorsPolicy, max_body_bytes: int
    ):
        self._admission, self._metrics, self._cors = admission, metrics, cors
        self._max_body = max_body_bytes  # a longer body is not skipped: the connection closes
        shed = error_response(CollectorError(Cause.OVERLOADED, OVERLOADED_MESSAGE))
        assert shed.body is not None and isinstance(shed.body, bytes)
        self._head = (
            f"HTTP/1.1 {shed.status} {shed.reason}\r\n"
            f"Content-Type: {shed.content_type}\r\n"
            f"Content-Length: {len(shed.body)}\r\n"
            f"Retry-After: {shed.headers['Retry-After']}\r\n"
        ).encode()
        self._body = shed.body
        self._answers: dict[tuple[bytes, bool], bytes] = {}  # (origin, close) -> answer

    def answer(self, data: bytes, write: Callable[[bytes], None]) -> int | None:
        """If ``data`` starts a request to shed, answer it: its size in bytes (head and body;
        the body may not be all in ``data`` yet), or CLOSE when the connection must close
        after the answer. None: not one to shed here (an ingestion request is then counted as
        arriving: it holds its place in the admission until its handler runs)."""
        if not data.startswith(_POST):
            return None
        end = data.find(_HEAD_END)
        route = _ROUTES.get(data[9:15])
        if end < 0 or route is None:
            return None
        if not self._admission.full():
            self._admission.arrive()
            return None
        head = data[:end].lower()
        length = _content_length(head)
        close = (
            length is None
            or length > self._max_body
            or not head[: head.find(b"\r\n")].endswith(b" http/1.1")
            or any(marker in head for marker in _CLOSE_IF)
        )
        write(self._answer(_origin(data, head), close))
        self._metrics.refused_early(route, 503, Cause.OVERLOADED.value)
        if close:
            return CLOSE
        assert length is not None
        return end + len(_HEAD_END) + length

    def _answer(self, origin: bytes, close: bool) -> bytes:
        answer = self._answers.get((origin, close))
        if answer is None:
            head = self._head
            allowed = self._cors.allow_origin(origin.decode("latin-1"), None) if origin else None
            if allowed is not None:  # as cors.py answers a shed request: before its key is known
                head += (
                    f"Access-Control-Allow-Origin: {allowed}\r\n"
                    "Access-Control-Expose-Headers: Retry-After\r\nVary: Origin\r\n"
                ).encode()
            if close:
                head += b"Connection: close\r\n"
            answer = head + b"\r\n" + self._body
            if len(self._answers) < 256:  # origins seen: a few, unless someone varies them
                self._answers[(origin, close)] = answer
        return answer


class ShedFirst(asyncio.Protocol):
    """aiohttp's protocol of one connection, with the shedder in front of its reads."""

    def __init__(self, handler: RequestHandler, shedder: Shedder):
        self._handler = handler
        self._shedder = shedder
        self._transport: asyncio.Transport | None = None
        self._skip = 0  # body bytes of a request answered here, still to come

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        while data:
            if self._skip:
                skipped = min(self._skip, len(data))
                self._skip -= skipped
                data = data[skipped:]
                continue
            if not _waits_for_request(self._handler):
                break
            assert self._transport is not None
            size = self._shedder.answer(data, self._transport.write)
            if size is None:
                break
            if size == CLOSE:
                self._transport.close()
                return
            self._skip = size  # the loop skips the request, and reads on if more came
        if data:
            self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()


class ShedSite(web.TCPSite):
    """A TCPSite whose connections go through ``ShedFirst``: the collector's listening socket."""

    def __init__(self, runner: web.AppRunner, *args, **kwargs):
        super().__init__(runner, *args, **kwargs)
        self._app = runner.app

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        collector = self._app[COLLECTOR]  # built by the app's startup, which setup() ran
        shedder = Shedder(
            collector.admission,
            collector.metrics,
            self._app[CORS_POLICY],
            collector.settings.max_body_bytes,
        )
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ShedFirst(server(), shedder),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]


def _waits_for_request(handler: RequestHandler) -> bool:
    """aiohttp's loop of this connection waits for its next request: none queued, none in
    progress, no body being read (its private ``_waiter`` exists only then)."""
    waiter = handler._waiter
    return waiter is not None and not waiter.done()


def _content_length(head: bytes) -> int | None:
    """The one Content-Length of a lower-cased header block, or None (none, several, bad)."""
    start = head.find(_LENGTH)
    if start < 0 or head.find(_LENGTH, start + 1) >= 0:
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
