"""Shedding below HTTP (collector/shedding.py), on a served app, over raw sockets: what the
prebuilt 503 says, that the connection stays usable after it, and when aiohttp answers instead.

The app admits one request at a time and its sink takes SLOW_S, so one slow request holds the
admission full while the others arrive.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from collector.admission import Admission
from collector.cors import CorsPolicy
from collector.errors import CollectorError
from collector.metrics import Metrics
from collector.routes import BATCH_PATH
from collector.shedding import Shedder, ShedRoute

V1_BATCH = ShedRoute(BATCH_PATH, 503, 1 << 20)

SLOW_S = 1.0  # long enough that a busy machine still sheds while it holds the slot


@pytest.fixture
def served(serve, make_settings, make_sink):
    sink = make_sink()
    sink.delay_s = SLOW_S
    settings = make_settings(
        max_in_flight=1,
        cors_origins=("https://shop.example.com",),
    )
    return serve(settings, sink)


def _shedder(admission: Admission, *routes: ShedRoute) -> Shedder:
    return Shedder(admission, Metrics(), CorsPolicy((), {}), routes or [V1_BATCH])


def _post(body: bytes, *headers: str, path: str = "/v1/batch") -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/json", *headers]
    if not any(h.lower().startswith(("transfer-encoding", "content-length")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Conn:
    """One raw HTTP/1.1 connection: write bytes, read whole answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        conn = cls(*await asyncio.open_connection("127.0.0.1", port))
        await asyncio.sleep(0.05)  # aiohttp's side of it now waits for a request
        return conn

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def answer(self) -> tuple[int, dict[str, str], dict | str]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        body = await self.reader.readexactly(int(headers["Content-Length"]))
        json = headers.get("Content-Type", "").startswith("application/json")
        return int(lines[0].split()[1]), headers, orjson.loads(body) if json else body.decode()

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 5) == b""

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def batch(make_event) -> bytes:
    return orjson.dumps({"events": [make_event() for _ in range(3)]})


def _shed_here(status: int, headers: dict[str, str], body: dict) -> bool:
    """The prebuilt answer: the request path's 503, without aiohttp's Server header."""
    assert (status, body["code"]) == (503, "overloaded")
    assert headers["Retry-After"] in ("1", "2")  # whole seconds, spread (admission.py)
    return "Server" not in headers


def test_a_shed_request_is_answered_before_aiohttp_and_the_connection_stays_usable(
    served, runner, batch
):
    async def scenario():
        slow, other = await Conn.open(served.port), await Conn.open(served.port)
        slow.send(_post(batch, "X-Write-Key: dev"))
        await asyncio.sleep(0.1)  # admitted: the admission is full
        # Head and half the body, then the rest with a second request right behind it.
        request = _post(batch, "X-Write-Key: dev")
        other.send(request[:-20])
        first = await other.answer()
        other.send(request[-20:] + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        healthz = await other.answer()
        assert (await slow.answer())[0] == 200
        other.send(_post(batch, "X-Write-Key: dev"))  # admission free again
        after = await other.answer()
        slow.close()
        other.close()
        return first, healthz, after

    first, healthz, after = runner.run(scenario())
    assert _shed_here(*first)
    assert "Connection" not in first[1]
    assert healthz[0] == 200 and healthz[2] == {"alive": True}
    assert after[0] == 200 and after[2]["accepted"] == 3
    metrics = served.get("/metrics").body
    assert 'surge_collector_requests_refused_total{cause="overloaded"} 1.0' in metrics
    assert 'surge_collector_requests_total{route="/v1/batch",status="503"} 1.0' in metrics


@pytest.mark.parametrize(
    "headers",
    [
        ("Transfer-Encoding: chunked",),
        ("Expect: 100-continue",),
        ("Connection: close",),
        ("Content-Length: 1", "Content-Length: 2"),
        ("Content-Length: 2000000",),  # over max_body_bytes: not skipped
    ],
    ids=["chunked", "expect", "close", "two-lengths", "too-long"],
)
def test_a_shed_request_whose_body_end_is_uncertain_closes_the_connection(
    served, runner, batch, headers
):
    async def scenario():
        slow, other = await Conn.open(served.port), await Conn.open(served.port)
        slow.send(_post(batch, "X-Write-Key: dev"))
        await asyncio.sleep(0.1)
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(batch), batch) if "chunked" in headers[0] else batch
        other.send(_post(body, *headers))
        answer, closed = await other.answer(), await other.closed()
        await slow.answer()
        slow.close()
        return answer, closed

    answer, closed = runner.run(scenario())
    assert _shed_here(*answer)
    assert answer[1]["Connection"] == "close"
    assert closed


def test_a_shed_answer_is_readable_by_an_allowed_origin(served, runner, batch):
    async def scenario():
        slow, allowed, other = [await Conn.open(served.port) for _ in range(3)]
        slow.send(_post(batch, "X-Write-Key: dev"))
        await asyncio.sleep(0.1)
        allowed.send(_post(batch, "Origin: https://shop.example.com"))
        other.send(_post(batch, "Origin: https://elsewhere.example.com"))
        answers = await allowed.answer(), await other.answer()
        await slow.answer()
        for conn in (slow, allowed, other):
            conn.close()
        return answers

    allowed, other = runner.run(scenario())
    assert _shed_here(*allowed) and _shed_here(*other)
    assert allowed[1]["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert allowed[1]["Access-Control-Expose-Headers"] == "Retry-After"
    assert "Access-Control-Allow-Origin" not in other[1]


def test_a_request_behind_one_in_progress_on_its_connection_is_left_to_aiohttp(
    served, runner, batch
):
    """Pipelined behind a request in progress, with the admission full: an answer here would
    overtake that request's. aiohttp queues it, and by its turn the admission is free."""

    async def scenario():
        conn = await Conn.open(served.port)
        conn.send(_post(batch, "X-Write-Key: dev"))
        await asyncio.sleep(0.1)  # admitted: the admission is full
        conn.send(_post(batch, "X-Write-Key: dev"))
        answers = await conn.answer(), await conn.answer()
        conn.close()
        return answers

    first, second = runner.run(scenario())
    assert first[0] == 200 and first[2]["accepted"] == 3
    assert second[0] == 200 and second[2]["accepted"] == 3


def test_a_request_pipelined_behind_one_aiohttp_has_not_answered_waits_for_that_answer(
    served, runner, batch
):
    """The shedder follows request boundaries (a GET has no body): the POST behind the GET
    is a request to shed, but answering it here would overtake aiohttp's answer to the GET."""

    async def scenario():
        slow, conn = await Conn.open(served.port), await Conn.open(served.port)
        slow.send(_post(batch, "X-Write-Key: dev"))
        await asyncio.sleep(0.1)  # admitted: the admission is full
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + _post(batch, "X-Write-Key: dev"))
        answers = await conn.answer(), await conn.answer()
        await slow.answer()
        slow.close()
        conn.close()
        return answers

    healthz, shed = runner.run(scenario())
    assert healthz[0] == 200 and healthz[2] == {"alive": True}
    assert shed[0] == 503 and not _shed_here(*shed)  # shed by the request path, in order


def test_a_request_left_to_aiohttp_while_full_holds_its_own_arriving_place():
    """Admission full, but aiohttp has not answered the connection's earlier request: this one
    goes to aiohttp, whose admit() sheds it. Until then it counts as arriving, so that admit()
    gives back its own place and not that of another request on its way."""
    admission = Admission(1)
    shedder = _shedder(admission)
    admission.admit()  # the only place: full
    request, connection, other = _post(b"{}"), object(), object()
    assert shedder.sheds(request, connection, may_answer=True) == V1_BATCH
    assert admission.arriving == 0  # answered here: it never arrives
    assert shedder.sheds(request, connection, may_answer=False) is None
    assert admission.arriving == 1
    with pytest.raises(CollectorError):
        admission.admit(other)  # another connection's request: not this one's place
    assert admission.arriving == 1
    with pytest.raises(CollectorError):
        admission.admit(connection)
    assert admission.arriving == 0


def test_an_arrival_aiohttp_never_hands_to_its_handler_gives_its_place_back():
    """Arrivals that never reach admit() (aiohttp answered 400, the client left) give their
    places back when their connection closes, or when aiohttp has answered all before the
    connection's next request: not later, after the other connections' requests were shed."""
    admission = Admission(2)
    shedder = _shedder(admission)
    request, closing, kept = _post(b"{}"), object(), object()
    assert shedder.sheds(request, closing, may_answer=True) is None
    assert shedder.sheds(request, kept, may_answer=True) is None
    assert admission.full()  # two arrivals, neither admitted
    shedder.closed(closing)
    assert admission.arriving == 1 and not admission.full()
    # kept's request was answered without its handler; its next request finds its place free.
    assert shedder.sheds(request, kept, may_answer=True) is None
    assert admission.arriving == 1
    with admission.admit(kept):
        assert (admission.in_flight, admission.arriving) == (1, 0)
    shedder.closed(kept)  # nothing left to give back
    assert (admission.in_flight, admission.arriving) == (0, 0)


@pytest.mark.parametrize(
    "bad_headers",
    [
        ("Content-Length: nope",),
        ("Bad Header: x",),
        ("Content-Length: 2", "Transfer-Encoding: chunked"),
    ],
    ids=["bad-length", "bad-name", "length-and-chunked"],
)
def test_requests_aiohttp_refuses_do_not_shed_the_valid_ones_after_them(
    serve, make_settings, make_sink, runner, batch, monkeypatch, bad_headers
):
    """Malformed POST /v1/batch that aiohttp answers 400 (and closes) before any handler runs,
    three times what the admission holds within the second, then a valid request at once:
    each bad one is answered 400, and the valid one admitted, not shed."""
    monkeypatch.setattr("collector.app.GAUGE_INTERVAL_S", 3600)  # no new period in between
    served = serve(make_settings(max_in_flight=4), make_sink())
    bad = _post(b"{}", *bad_headers)

    async def scenario():
        refused, closed = [], []
        for _ in range(12):
            conn = await Conn.open(served.port)
            conn.send(bad)
            status = (await conn.answer())[0]
            refused.append(status)
            closed.append(status == 400 and await conn.closed())
            conn.close()
        valid = await Conn.open(served.port)
        valid.send(_post(batch, "X-Write-Key: dev"))
        answer = await valid.answer()
        valid.close()
        return refused, closed, answer

    refused, closed, (status, _, body) = runner.run(scenario())
    assert refused == [400] * 12 and all(closed)
    assert status == 200 and body["accepted"] == 3


def test_the_aiohttp_seam(runner):
    """The aiohttp internals shedding.py reads, on aiohttp's own low-level server: a handler
    waiting for a request, one running a request, and one with a request queued behind it.
    If this fails after an aiohttp upgrade, shedding.py's seam must be rewritten for it."""
    import tomllib
    from pathlib import Path

    import aiohttp
    from aiohttp import web

    from collector import shedding

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert f"aiohttp=={aiohttp.__version__}" in pyproject["project"]["dependencies"]

    async def scenario():
        release = asyncio.Event()

        async def handler(request: web.BaseRequest) -> web.Response:
            await release.wait()
            return web.Response(text="ok")

        server = web.Server(handler)
        handlers = []

        def factory():
            handlers.append(server())
            return handlers[-1]

        listening = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", listening.sockets[0].getsockname()[1]
        )
        await asyncio.sleep(0.05)
        (h,) = handlers
        states = [(shedding.waits_for_request(h), shedding.answered_all(h))]
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.05)
        states.append((shedding.waits_for_request(h), shedding.answered_all(h)))
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # pipelined behind it
        await asyncio.sleep(0.05)
        states.append((shedding.waits_for_request(h), shedding.answered_all(h)))
        release.set()
        for _ in range(2):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
        await asyncio.sleep(0.05)
        states.append((shedding.waits_for_request(h), shedding.answered_all(h)))
        writer.close()
        listening.close()
        await server.shutdown(1)
        return states

    waiting, running, queued, answered = runner.run(scenario())
    assert waiting == (True, True)
    assert running == (False, False)
    assert queued == (False, False)
    assert answered == (True, True)


def test_routes_are_shed_with_their_own_status():
    """Reusable by route: an API whose clients expect 429 registers its routes with 429."""
    admission = Admission(1)
    segment_batch = ShedRoute("/segment/v1/batch", 429, 1 << 20)
    shedder = _shedder(admission, V1_BATCH, segment_batch)
    admission.admit()  # full
    segment = _post(b"{}", path="/segment/v1/batch?x=1")
    route = shedder.sheds(segment, object(), may_answer=True)
    assert route == segment_batch
    head = segment.split(b"\r\n\r\n")[0].lower()
    answer, close = shedder.answer(route, segment, head, 2)
    assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n") and not close
    assert b"\r\nRetry-After: " in answer
    assert shedder.sheds(_post(b"{}", path="/v1/batch?write_key=dev"), object(), True) == V1_BATCH
    assert shedder.sheds(_post(b"{}", path="/v1/batchx"), object(), True) is None
    assert shedder.sheds(_post(b"{}", path="/segment/v1/track"), object(), True) is None


def test_a_shed_request_keeps_its_connection_up_to_its_own_routes_body_limit(
    serve, make_settings, make_sink, runner, batch
):
    """Segment routes read bodies up to segment_max_body_bytes, /v1 up to max_body_bytes: a
    shed request's body is skipped (the connection kept) only within its own route's limit."""
    sink = make_sink()
    sink.delay_s = SLOW_S
    served = serve(
        make_settings(max_in_flight=1, max_body_bytes=200_000, segment_max_body_bytes=100_000),
        sink,
    )
    length = "Content-Length: 150000"  # over Segment's limit, within /v1's

    async def scenario():
        slow, v1, segment = [await Conn.open(served.port) for _ in range(3)]
        slow.send(_post(batch, "X-Write-Key: dev"))
        await asyncio.sleep(0.1)  # admitted: the admission is full
        v1.send(_post(b"", length))
        segment.send(_post(b"", length, path="/segment/v1/batch"))
        answers = await v1.answer(), await segment.answer()
        closed = answers[1][1].get("Connection") == "close" and await segment.closed()
        await slow.answer()
        for conn in (slow, v1, segment):
            conn.close()
        return answers, closed

    (v1, segment), closed = runner.run(scenario())
    assert v1[0] == 503 and "Connection" not in v1[1]
    assert segment[0] == 429 and segment[1]["Connection"] == "close" and closed
