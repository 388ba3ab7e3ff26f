"""The server's fields of a valid event: what the collector knows that the client cannot fake.

- ``received_at``: when the request came in (server clock), the same for all its events;
- ``event_time``: the client's ``ts`` corrected for the client's clock skew,
  ``received_at - (sent_at - ts)``: the delay the client measured on its own clock, applied to
  the server's. Without ``sent_at`` it is ``ts`` as sent. Clamped so it is never later than
  ``received_at + max_future_skew`` (a client clock far ahead) nor before 1900 (the earliest
  time the catalogue accepts);
- ``ip`` (optionally truncated), ``user_agent``, ``app_id`` (from the write key),
  ``schema_version``, and ``event_id`` when the client sent none.

Values the client sent for these fields are replaced, and ``write_key`` is dropped: the event
cannot claim another app, time of arrival or address. Times are RFC 3339 UTC with milliseconds
("2026-11-10T16:00:03.120Z"), which ``schemas.timestamps.parse_time`` reads back.
"""

from __future__ import annotations

import functools
import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.timestamps import to_epoch_ms

MAX_USER_AGENT = 512
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_FLOOR_MS = (datetime(1900, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the server knows of one request, shared by all its events."""

    received_ms: int
    received_at: str  # received_ms formatted, once per request
    app_id: str
    ip: str | None
    user_agent: str | None
    sent_ms: int | None  # the batch's sent_at; an event's own sent_at wins
    max_future_ms: int
    server_fields: dict[str, Any]  # the fields above as set in each event, built once

    @classmethod
    def at(
        cls,
        received_ms: int,
        *,
        app_id: str,
        ip: str | None,
        user_agent: str | None,
        max_future_ms: int,
        sent_at: str | int | None = None,
    ) -> RequestFacts:
        """Facts of a request received at ``received_ms`` whose batch says ``sent_at``."""
        sent_ms = None if sent_at is None else epoch_ms(sent_at)
        received_at = format_ms(received_ms)
        server_fields = {
            "received_at": received_at,
            "ip": ip,
            "user_agent": user_agent,
            "app_id": app_id,
        }
        return cls(
            received_ms, received_at, app_id, ip, user_agent, sent_ms, max_future_ms, server_fields
        )


def enrich(event: dict[str, Any], facts: RequestFacts, schema_version: int) -> dict[str, Any]:
    """A copy of a valid event with the server's fields set (the event itself is left as is)."""
    own_sent_at = event.get("sent_at")
    sent_ms = facts.sent_ms if own_sent_at is None else epoch_ms(own_sent_at)
    # event_time_ms(), inlined: once per event.
    event_ms = epoch_ms(event["ts"])
    received_ms = facts.received_ms
    if sent_ms is not None:
        event_ms = received_ms - (sent_ms - event_ms)
    if event_ms > received_ms + facts.max_future_ms:
        event_ms = received_ms + facts.max_future_ms
    elif event_ms < _FLOOR_MS:
        event_ms = _FLOOR_MS
    out = {
        **event,
        **facts.server_fields,
        "event_time": format_ms(event_ms),
        "schema_version": schema_version,
    }
    out.pop("write_key", None)
    if not out.get("event_id"):
        out["event_id"] = str(uuid.uuid4())
    return out


def event_time_ms(ts_ms: int, sent_ms: int | None, received_ms: int, max_future_ms: int) -> int:
    corrected = ts_ms if sent_ms is None else received_ms - (sent_ms - ts_ms)
    return max(_FLOOR_MS, min(corrected, received_ms + max_future_ms))


def epoch_ms(value: str | int) -> int:
    """Epoch ms of a time the schema accepted: the stdlib's C parser for the common shapes,
    the catalogue's own reader (schemas.timestamps) for the rest (leap seconds, 7+ digits...)."""
    if type(value) is int:
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return to_epoch_ms(value)
    if parsed.tzinfo is None:  # the schema requires an offset: never here, but never guess
        return to_epoch_ms(value)
    return (parsed - _EPOCH) // _MS


def format_ms(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return _format_second(seconds) + _MILLIS[millis]


_MILLIS = tuple(f".{millis:03d}Z" for millis in range(1000))  # a lookup, not a format per event


@functools.lru_cache(maxsize=4096)
def _format_second(epoch_s: int) -> str:
    # Most events of a moment share their second: formatting it once is most of the cost.
    return (_EPOCH + timedelta(seconds=epoch_s)).strftime("%Y-%m-%dT%H:%M:%S")


def client_ip(peer: str | None, forwarded_for: str | None, trusted_hops: int) -> str | None:
    """The client address: the peer's, or, behind ``trusted_hops`` proxies, the address the
    outermost trusted proxy saw (entries further left are the client's to invent)."""
    if trusted_hops and forwarded_for:
        hops = [h.strip() for h in forwarded_for.split(",")]
        if len(hops) >= trusted_hops:
            candidate = hops[-trusted_hops]
            return candidate if _is_ip(candidate) else None
    return peer


def truncate_ip(ip: str | None) -> str | None:
    """IPv4 to its /24, IPv6 to its /48: enough for geography, not for one household."""
    if ip is None:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def user_agent(header: str | None) -> str | None:
    return header[:MAX_USER_AGENT] if header else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
