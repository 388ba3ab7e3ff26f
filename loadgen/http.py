"""A lean HTTP/1.1 client for pre-built requests: keep-alive connections, one request at a time
on each (as browsers send batches), a bounded but large pool, and a parser that costs a few
``find``s per answer, so the generator's own CPU stays small beside the server's.

The pool never makes a request wait for an answer to another: a request that finds no idle
connection opens one (up to ``max_connections``), else waits in line, and the wait counts in
its latency (the caller measures from the scheduled time).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str, path: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"{url}: only http:// is supported")
        base = parts.path.rstrip("/")
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, base + path)

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"


def frame(target: Target, body: bytes, headers: dict[str, str]) -> tuple[bytes, int]:
    """A whole ``POST`` request, and where its body starts in it."""
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {target.authority}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body, len(head)


@dataclass(slots=True)
class Answer:
    status: int
    head: bytes  # status line and headers, as received
    body: bytes
    sent_at: float = 0.0  # loop time of its request's write (latency without the pool's wait)
    nth: int = 1  # its request's place on its connection: 1, the connection's first

    def header(self, name: bytes) -> bytes | None:
        """One header's value (``name`` lower case), for the rare answers that need one."""
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip()
        return None


class Connection(asyncio.Protocol):
    """One keep-alive connection; the request in flight is ``pending`` (anything the pool likes)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.pending: Any = None
        self.sent_at = 0.0  # loop time of the write, for timeouts
        self.sent = 0  # requests written on this connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.pool.opened(self)

    def send(self, pending: Any, data: bytes) -> None:
        self.pending = pending
        self.sent_at = self.pool.loop.time()
        self.sent += 1
        self.transport.write(data)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            # Fast path: aiohttp's spelling of the header; any other spelling is looked up.
            at = buffer.find(b"\r\nContent-Length: ", 0, end)
            if at >= 0:
                length = int(buffer[at + 18 : buffer.find(b"\r\n", at + 18)])
                total = end + 4 + length
                if len(buffer) < total:
                    break
                body = buffer[end + 4 : total]
            else:
                parsed = _unusual_body(buffer, end)
                if parsed is None:
                    break
                body, total = parsed
            head, buffer = buffer[:end], buffer[total:]
            close = head.find(b"onnection: close") >= 0  # [Cc]onnection
            pending, self.pending = self.pending, None
            answer = Answer(int(head[9:12]), head, body, self.sent_at, self.sent)
            self.pool.answered(self, pending, answer, close)
        self.buffer = buffer

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


def _unusual_body(buffer: bytes, end: int) -> tuple[bytes, int] | None:
    """(body, bytes used) of an answer without aiohttp's Content-Length: another spelling,
    chunked, or none; None while incomplete."""
    head = buffer[:end].lower()
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        return (buffer[end + 4 : total], total) if len(buffer) >= total else None
    if b"transfer-encoding: chunked" not in head:
        return b"", end + 4
    body, at = b"", end + 4
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(buffer[at:line_end].split(b";")[0], 16)
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", line_end)
            return (body, trailer_end + 4) if trailer_end >= 0 else None
        if len(buffer) < line_end + 2 + size + 2:
            return None
        body += buffer[line_end + 2 : line_end + 2 + size]
        at = line_end + 2 + size + 2


class Pool:
    """Connections to one host; ``submit`` sends now or as soon as a connection is free.

    ``on_answer(pending, answer)`` and ``on_failure(pending, why)`` (why: "connection" or
    "timeout") are called once per submitted request.
    """

    def __init__(
        self,
        target: Target,
        max_connections: int,
        timeout_s: float,
        on_answer: Callable[[Any, Answer], None],
        on_failure: Callable[[Any, str], None],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.target = target
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self.on_answer, self.on_failure = on_answer, on_failure
        self.idle: list[Connection] = []
        self.connections: set[Connection] = set()
        self.opening = 0
        self.waiting: deque[tuple[Any, bytes, float]] = deque()  # (pending, data, since)
        self.connect_errors = 0
        self._sweeper = self.loop.create_task(self._sweep())
        self._retry_open: asyncio.TimerHandle | None = None

    def submit(self, pending: Any, data: bytes) -> None:
        if self.idle and not self.waiting:
            self.idle.pop().send(pending, data)
            return
        self.waiting.append((pending, data, self.loop.time()))
        self._kick()

    @property
    def in_flight(self) -> int:
        return len(self.connections) - len(self.idle)

    def opened(self, conn: Connection) -> None:
        self.opening -= 1
        self.connections.add(conn)
        self._ready(conn)

    def answered(self, conn: Connection, pending: Any, answer: Answer, close: bool) -> None:
        if close:
            conn.transport.close()  # type: ignore[union-attr]
        else:
            self._ready(conn)
        if pending is not None:
            self.on_answer(pending, answer)

    def lost(self, conn: Connection) -> None:
        self.connections.discard(conn)
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        if conn.pending is not None:
            pending, conn.pending = conn.pending, None
            self.on_failure(pending, "connection")
        self._kick()

    async def close(self) -> None:
        self._sweeper.cancel()
        if self._retry_open:
            self._retry_open.cancel()
        for conn in list(self.connections):
            conn.transport.close()  # type: ignore[union-attr]
        while self.waiting:
            pending, _, _ = self.waiting.popleft()
            self.on_failure(pending, "timeout")
        await asyncio.sleep(0)

    def _ready(self, conn: Connection) -> None:
        if self.waiting:
            pending, data, _ = self.waiting.popleft()
            conn.send(pending, data)
        else:
            self.idle.append(conn)

    def _kick(self) -> None:
        missing = len(self.waiting) - self.opening
        while missing > 0 and len(self.connections) + self.opening < self.max_connections:
            self.opening += 1
            missing -= 1
            self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            await self.loop.create_connection(
                lambda: Connection(self), self.target.host, self.target.port
            )
        except OSError:
            self.opening -= 1
            self.connect_errors += 1
            # Not at once: a server that refuses connections would make this loop spin.
            if self._retry_open is None:
                self._retry_open = self.loop.call_later(0.1, self._reopen)

    def _reopen(self) -> None:
        self._retry_open = None
        self._kick()

    async def _sweep(self) -> None:
        """Fails what waited or was in flight longer than the timeout, four times a second."""
        while True:
            await asyncio.sleep(0.25)
            limit = self.loop.time() - self.timeout_s
            while self.waiting and self.waiting[0][2] < limit:
                pending, _, _ = self.waiting.popleft()
                self.on_failure(pending, "timeout")
            for conn in list(self.connections):
                if conn.pending is not None and conn.sent_at < limit:
                    pending, conn.pending = conn.pending, None
                    conn.transport.close()  # type: ignore[union-attr]  # its answer is moot
                    self.on_failure(pending, "timeout")
