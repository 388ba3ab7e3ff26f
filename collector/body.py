"""Getting the body: type checks, a size cap and a deadline on the read, gzip with a cap.

The read never holds more than ``max_body_bytes`` (a declared Content-Length over it is refused
before reading), and gunzip stops at ``max_decompressed_bytes``, so a gzip bomb costs at most
that much memory and time.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Protocol

from collector.errors import Cause, CollectorError

# sendBeacon cannot set application/json: a string body goes as text/plain.
ACCEPTED_TYPES = frozenset({"application/json", "text/plain"})
_GZIP = frozenset({"gzip", "x-gzip"})
_IDENTITY = frozenset({"", "identity"})


class ByteStream(Protocol):
    """aiohttp's StreamReader; ``is_eof`` and ``read_nowait`` are optional (a fast path)."""

    async def readany(self) -> bytes: ...


def check_content_type(mimetype: str, charset: str | None) -> None:
    if mimetype not in ACCEPTED_TYPES:
        shown = mimetype[:64] or "missing"
        raise CollectorError(
            Cause.UNSUPPORTED,
            f"Content-Type {shown!r} is not supported: send application/json or text/plain",
        )
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise CollectorError(
            Cause.UNSUPPORTED, f"charset {charset[:32]!r} is not supported: send UTF-8"
        )


def check_content_encoding(encoding: str) -> bool:
    """True when the body is gzip; identity is fine; anything else is refused."""
    encoding = encoding.strip().lower()
    if encoding in _GZIP:
        return True
    if encoding in _IDENTITY:
        return False
    raise CollectorError(
        Cause.UNSUPPORTED,
        f"Content-Encoding {encoding[:32]!r} is not supported: send gzip or identity",
    )


def check_declared_length(content_length: int | None, limit: int) -> None:
    if content_length is not None and content_length > limit:
        raise too_large_body(limit)


async def read_capped(stream: ByteStream, limit: int, timeout_s: float) -> bytes:
    # The common case: a small body arrived with its headers, whole. No wait, no deadline.
    if getattr(stream, "is_eof", None) is not None and stream.is_eof():
        data = stream.read_nowait(-1)
        if len(data) > limit:
            raise too_large_body(limit)
        return data
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await stream.readany():
                size += len(chunk)
                if size > limit:
                    raise too_large_body(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise CollectorError(
            Cause.BODY_TIMEOUT, f"body: not received within {timeout_s:g} s"
        ) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress every gzip member of ``data``, refusing output over ``limit`` bytes."""
    out: list[bytes] = []
    size = 0
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            # max_length: zlib stops producing there, whatever the ratio of the input.
            part = inflater.decompress(data, limit - size + 1)
        except zlib.error as exc:
            raise CollectorError(Cause.MALFORMED, f"body: not valid gzip ({exc})") from None
        size += len(part)
        if size > limit:
            raise CollectorError(
                Cause.TOO_LARGE, f"body: larger than {limit} bytes once decompressed"
            )
        if not inflater.eof:
            raise CollectorError(Cause.MALFORMED, "body: truncated gzip")
        out.append(part)
        data = inflater.unused_data
        if not data:
            return b"".join(out)


def too_large_body(limit: int) -> CollectorError:
    return CollectorError(Cause.TOO_LARGE, f"body: larger than {limit} bytes")
