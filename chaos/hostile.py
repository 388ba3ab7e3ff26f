"""Hostile requests against the collector's HTTP API, each answered with its status (or None
when the connection ended without an answer):

- ``fuzz``: a property-based fuzzer (hypothesis) of bodies, headers, encodings and paths;
- ``MALFORMED``: broken HTTP and broken JSON, one raw request each;
- ``oversized`` and ``gzip_bomb``: too large as sent, or once decompressed;
- ``SlowSenders``: connections that send a request a byte at a time (slowloris), and
  connections that send nothing at all.

None of them may get a 5xx other than a shed 503/429 with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import socket
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadgen import events

PATHS = (
    "/v1/batch",
    "/v1/event",
    "/v1/batch?write_key=dev",
    "/segment/v1/batch",
    "/segment/v1/t",
    "/segment/v1/p",
    "/segment/v1/i",
)
SHED = (429, 503)


def bad_answer(status: int | None, retry_after: str | None) -> bool:
    """A 5xx that is not a shed answer with Retry-After: a server error on hostile input."""
    return status is not None and status >= 500 and not (status in SHED and retry_after)


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)  # what got a server error

    def record(self, what: str, status: int | None, retry_after: str | None = None) -> None:
        self.statuses[status] += 1
        if bad_answer(status, retry_after):
            self.bad.append(f"{what}: {status}")


def post(port: int, path: str, body: bytes, headers: dict[str, str], timeout_s: float = 15):
    """(status, Retry-After) of one POST on a fresh connection; (None, None) if cut."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        return answer.status, answer.getheader("Retry-After")
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()


def raw(port: int, data: bytes, timeout_s: float = 15) -> int | None:
    """Send bytes as they are; the status of the answer, None if the connection ended first."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        received = b""
        with contextlib.suppress(OSError):
            while b"\r\n" not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
    line = received.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else None


# -- the fuzzer ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what JSON encoders take; larger: MALFORMED
    | st.floats()
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = (
    "event_id",
    "type",
    "ts",
    "device_id",
    "user_id",
    "session_id",
    "page",
    "context",
    "properties",
)


@cache
def valid_events() -> list[dict]:
    return list(events(50, seed=3))


@st.composite
def event_like(draw) -> dict:
    """A valid event, with some fields replaced by anything or removed."""
    event = dict(draw(st.sampled_from(valid_events())))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        if draw(st.booleans()):
            event[name] = draw(json_values)
        else:
            event.pop(name, None)
    return event


bodies = st.one_of(
    st.builds(
        lambda evs, extra: orjson.dumps({"events": evs, **extra}),
        st.lists(event_like(), max_size=5),
        st.dictionaries(
            st.sampled_from(["write_key", "sent_at", "batch"]), json_values, max_size=2
        ),
    ),
    st.builds(orjson.dumps, event_like()),
    st.builds(lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS), json_values),
    st.binary(max_size=2000),
)
requests_ = st.fixed_dictionaries(
    {
        "path": st.sampled_from(PATHS),
        "body": bodies,
        "content_type": st.sampled_from(
            ["application/json", "text/plain", "text/plain;charset=UTF-8", "application/xml", ""]
        ),
        "encoding": st.sampled_from([None, "gzip", "gzip-lie", "br", "identity"]),
        "key": st.sampled_from(["dev", None, "wrong", ""]),
    }
)


def fuzz(port: int, budget_s: float, max_examples: int) -> Tally:
    """Random requests for ``budget_s`` (at most ``max_examples``); a server error fails."""
    tally = Tally()
    stop_at = time.monotonic() + budget_s

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,  # nothing written into the checkout
        suppress_health_check=list(HealthCheck),
    )
    @given(requests_)
    def no_server_error(req: dict) -> None:
        if time.monotonic() > stop_at:
            return
        body, headers = req["body"], {}
        if req["content_type"]:
            headers["Content-Type"] = req["content_type"]
        if req["key"] is not None:
            headers["X-Write-Key"] = req["key"]
            headers["Authorization"] = "Basic ZGV2Og=="  # dev: (Segment)
        if req["encoding"] == "gzip":
            body = gzip.compress(body)
        if req["encoding"]:
            headers["Content-Encoding"] = req["encoding"].removesuffix("-lie")
        status, retry_after = post(port, req["path"], body, headers)
        tally.record(f"fuzz {req['path']} {headers} {body[:200]!r}", status, retry_after)
        assert not bad_answer(status, retry_after), (
            f"{status} for {req['path']} {headers} {body[:300]!r}"
        )

    no_server_error()
    return tally


# -- broken requests -------------------------------------------------------------------------


def _post_bytes(body: bytes, *extra: str, length: int | None = None) -> bytes:
    head = [
        "POST /v1/batch HTTP/1.1",
        "Host: collector",
        "X-Write-Key: dev",
        "Content-Type: application/json",
        *extra,
    ]
    if length is not None or not any(h.lower().startswith("transfer-encoding") for h in extra):
        head.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


NESTED = b'{"events":[' + b"[" * 200_000 + b"]" * 200_000 + b"]}"
MALFORMED = {
    "not json": _post_bytes(b"{{{ not json"),
    "truncated json": _post_bytes(b'{"events":[{"type":"page_view","device_id":"d'),
    "array at the root": _post_bytes(b"[1,2,3]"),
    "events not a list": _post_bytes(b'{"events":"page_view"}'),
    "no events": _post_bytes(b'{"events":[]}'),
    "deep nesting": _post_bytes(NESTED),
    "invalid utf-8": _post_bytes(b'{"events":[{"type":"page_view","device_id":"\xff\xfe"}]}'),
    "nul bytes": _post_bytes(b'{"events":[{"type":"page_view\x00","device_id":"d\x00"}]}'),
    "huge number": _post_bytes(b'{"events":[{"type":"page_view","device_id":"d","ts":1e999999}]}'),
    "huge integer": _post_bytes(
        b'{"events":[{"type":"page_view","device_id":"d","ts":' + b"9" * 5000 + b"}]}"
    ),
    "body shorter than its length": _post_bytes(b'{"events":[]}', length=5000),
    "negative length": _post_bytes(b"{}", length=-1),
    "two lengths": _post_bytes(b"{}", "Content-Length: 7"),
    "bad chunk size": _post_bytes(b"zz\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
    "header of 100 KB": _post_bytes(b"{}", "X-Big: " + "a" * 100_000),
    "2000 headers": _post_bytes(b"{}", *(f"X-H{i}: v" for i in range(2000))),
    "unknown method": b"BREW /v1/batch HTTP/1.1\r\nHost: c\r\n\r\n",
    "HTTP/0.9": b"GET /v1/batch\r\n\r\n",
    "garbage": bytes(range(256)) * 4,
    "gzip that is not": _post_bytes(b"not gzip at all", "Content-Encoding: gzip"),
}


def malformed(port: int) -> Tally:
    tally = Tally()
    for name, data in MALFORMED.items():
        tally.record(name, raw(port, data))
    return tally


def oversized(port: int) -> Tally:
    tally = Tally()
    headers = {"X-Write-Key": "dev", "Content-Type": "application/json"}
    one = valid_events()[0]
    cases = {
        "body of 2 MiB": orjson.dumps({"events": [one], "pad": "x" * (2 << 20)}),
        "600 events": orjson.dumps({"events": [one] * 600}),
        "an event of 100 KB": orjson.dumps(
            {"events": [one | {"properties": {"x": "y" * 100_000}}]}
        ),
    }
    for name, body in cases.items():
        tally.record(name, *post(port, "/v1/batch", body, headers))
    return tally


@cache
def bomb(decompressed_mib: int = 512) -> bytes:
    """Zeros that gzip ~1000:1: far below the body cap as sent, far above it unzipped."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    return b"".join(packer.compress(chunk) for _ in range(decompressed_mib)) + packer.flush()


def gzip_bomb(port: int, times: int = 3) -> Tally:
    tally = Tally()
    headers = {"X-Write-Key": "dev", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    for i in range(times):
        tally.record(f"gzip bomb {i}", *post(port, "/v1/batch", bomb(), headers))
    return tally


# -- slow and idle connections ---------------------------------------------------------------


class SlowSenders:
    """``slow`` connections that send a request's head a byte per tick (slowloris), ``idle``
    ones that send nothing; kept open until ``close()``. ``closed_by_server()`` counts those the
    collector hung up on."""

    HEAD = (
        b"POST /v1/batch HTTP/1.1\r\nHost: c\r\nX-Write-Key: dev\r\nContent-Length: 100\r\nX-Slow: "
    )

    def __init__(self, port: int, slow: int, idle: int):
        self.slow = [self._open(port) for _ in range(slow)]
        self.idle = [self._open(port) for _ in range(idle)]
        self.sent = 0
        self.cut: set[int] = set()

    @staticmethod
    def _open(port: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(False)
        return sock

    def tick(self) -> None:
        """One more byte on every slow connection."""
        data = self.HEAD[self.sent : self.sent + 1] or b"a"
        self.sent += 1
        for sock in self.slow:
            if sock.fileno() in self.cut:
                continue
            try:
                sock.send(data)
            except OSError:
                self.cut.add(sock.fileno())

    def closed_by_server(self) -> tuple[int, int]:
        """(slow, idle) connections the server has closed."""

        def closed(sock: socket.socket) -> bool:
            if sock.fileno() in self.cut:
                return True
            try:
                return sock.recv(1 << 16) == b"" or self._drain(sock)
            except BlockingIOError:
                return False
            except OSError:
                return True

        return sum(map(closed, self.slow)), sum(map(closed, self.idle))

    @staticmethod
    def _drain(sock: socket.socket) -> bool:
        """An answer came (a 408): the server is done with it once the data ends."""
        with contextlib.suppress(BlockingIOError):
            while sock.recv(1 << 16):
                pass
            return True
        return False

    def close(self) -> None:
        for sock in (*self.slow, *self.idle):
            sock.close()
