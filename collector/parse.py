"""From bytes to an envelope of events: orjson, then the envelope's checks, then each event's
structure (depth, numbers, size) before its schema.

orjson is strict where it matters here: invalid UTF-8, lone surrogates, NaN and Infinity and
numbers that overflow a double are refused. Numbers beyond +-2^53 are refused per event: a
browser cannot represent them exactly, and nothing downstream should guess what was meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from collector.errors import Cause, CollectorError
from collector.validation import EnvelopeChecker
from schemas.dlq import Reason, Rejection

_BOM = b"\xef\xbb\xbf"
_SAFE_INTEGER = 2**53
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Envelope:
    events: list[Any]
    write_key: str | None
    sent_at: str | int | None  # of the batch; an event's own sent_at wins
    single: bool  # POST /v1/event: the body is the one event


def envelope(raw: bytes, single: bool, max_events: int, checker: EnvelopeChecker) -> Envelope:
    """The body of POST /v1/event (``single``) or /v1/batch, parsed and its envelope checked."""
    doc = parse_json(raw)
    return single_envelope(doc) if single else batch_envelope(doc, max_events, checker)


def parse_json(raw: bytes) -> Any:
    if raw.startswith(_BOM):  # RFC 8259 lets a parser ignore it; some clients send it
        raw = raw[3:]
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CollectorError(Cause.MALFORMED, _json_problem(raw, str(exc))) from None


def _json_problem(raw: bytes, detail: str) -> str:
    if not raw.strip():
        return "body: empty"
    if "UTF-8" in detail or "surrogate" in detail:
        return f"body: not valid UTF-8 ({detail})"
    if "infinity when parsed" in detail:
        return f"body: number too large ({detail})"
    if "depth limit" in detail:
        return "body: nested too deep"
    if b"NaN" in raw or b"Infinity" in raw:
        return f"body: not valid JSON, NaN and Infinity are not JSON numbers ({detail})"
    return f"body: not valid JSON ({detail})"


def batch_envelope(doc: Any, max_events: int, checker: EnvelopeChecker) -> Envelope:
    """The body of POST /v1/batch: {"write_key"?, "sent_at"?, "events": [...]}."""
    if type(doc) is not dict:
        raise CollectorError(Cause.MALFORMED, "body: must be a JSON object")
    events = doc.get("events", _MISSING)
    if events is _MISSING:
        raise CollectorError(Cause.MALFORMED, "events: required")
    if type(events) is not list:
        raise CollectorError(Cause.MALFORMED, "events: must be an array")
    if not events:
        raise CollectorError(Cause.MALFORMED, "events: must not be empty")
    if len(events) > max_events:
        raise CollectorError(
            Cause.TOO_LARGE,
            f"events: {len(events)} events, more than the {max_events} allowed in one batch",
        )
    # The schema checks the envelope's own fields; its events are checked one by one later,
    # so one stands in for all (a copy of the whole list would be converted for nothing).
    problem = checker.validate({**doc, "events": events[:1]})
    if problem is not None:
        raise CollectorError(Cause.MALFORMED, problem)
    return Envelope(events, doc.get("write_key"), doc.get("sent_at"), single=False)


def single_envelope(doc: Any) -> Envelope:
    """The body of POST /v1/event: one event, which may carry write_key and sent_at."""
    if type(doc) is not dict:
        raise CollectorError(Cause.MALFORMED, "body: must be a JSON object (one event)")
    write_key = doc.get("write_key")
    if write_key is not None and type(write_key) is not str:
        raise CollectorError(Cause.MALFORMED, "write_key: must be a string or null")
    # sent_at is checked with the event's schema.
    return Envelope([doc], write_key, None, single=True)


def check_event_sizes(events: list[Any], body_bytes: int, limit: int) -> None:
    """Refuse the request when one event is over the limit (none can be in a smaller body)."""
    if body_bytes <= limit:
        return
    for index, event in enumerate(events):
        try:
            size = len(orjson.dumps(event))
        except orjson.JSONEncodeError:  # too deep to encode: refused by structure_problem
            continue
        if size > limit:
            raise CollectorError(
                Cause.TOO_LARGE,
                f"events[{index}]: {size} bytes, more than the {limit} allowed for one event",
            )


def structure_problem(event: Any, max_depth: int) -> Rejection | None:
    """What the schema cannot see: nesting depth, and numbers too large to be exact."""
    if type(event) is not dict:
        return Rejection(Reason.NOT_AN_OBJECT, "event: must be an object")
    if _sound(event, max_depth - 1):
        return None
    message = _first_problem(event, max_depth)
    return None if message is None else Rejection(Reason.STRUCTURE, message)


def _sound(node: dict | list, depth_left: int) -> bool:
    # The hot path: no paths built, recursion only into containers (rare past 3 levels).
    for child in node.values() if type(node) is dict else node:
        kind = type(child)
        if kind is str:  # most values: one test
            continue
        if kind is dict or kind is list:
            if depth_left <= 0 or not _sound(child, depth_left - 1):
                return False
        elif (kind is int or kind is float) and not -_SAFE_INTEGER <= child <= _SAFE_INTEGER:
            return False
    return True


def _first_problem(event: dict, max_depth: int) -> str | None:
    """The same checks, slowly, to name the field."""
    stack: list[tuple[Any, int, str]] = [(event, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > max_depth:
            return f"{_short(path)}: nested deeper than {max_depth} levels"
        items = node.items() if type(node) is dict else enumerate(node)
        for key, child in items:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1, _join(path, key)))
            elif (kind is int or kind is float) and not -_SAFE_INTEGER <= child <= _SAFE_INTEGER:
                return f"{_short(_join(path, key))}: number too large (beyond +-2^53)"
    return None


def _join(path: str, key: str | int) -> str:
    if type(key) is int:
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _short(path: str, limit: int = 200) -> str:
    # Keys come from the client: a message quoting them stays short.
    return path if len(path) <= limit else path[:limit] + "..."
