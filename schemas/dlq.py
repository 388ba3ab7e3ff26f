"""The DLQ letter: why an input was refused, by which stage, and the input itself, bounded.

Both stages write it to the DLQ topic, built by ``letter()``: the collector for an event of an
accepted request that fails its checks, the lander for a record of the events topic that
cannot be a row. One consumer reads both; ``stage`` tells them apart, ``source`` says where in
that stage the input was. The fields are ``FIELDS`` (documented in schemas/README.md).

A letter never carries a write key (a credential, and the DLQ has more readers than the
collector's settings): it names the app instead, and a top-level ``write_key`` (or Segment's
``writeKey``) field of the input is removed from ``raw``.

``reason`` is a closed set (``Reason``): the label of both stages' rejection metrics, and what
a consumer of the DLQ can switch on. ``message`` says what exactly, for a human.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

# Inputs larger than this (as JSON) are kept as the first RAW_MAX_BYTES of their text.
RAW_MAX_BYTES = 64 * 1024
# A write key as Surge's API and Segment's SDKs spell it: never kept in a letter's `raw`.
CREDENTIALS = frozenset({"write_key", "writeKey"})
MESSAGE_MAX_CHARS = 1024  # messages quote client values: a letter stays small


class Stage(StrEnum):
    COLLECTOR = "collector"
    LANDER = "lander"


class Reason(StrEnum):
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TYPE = "unknown_type"
    STRUCTURE = "structure"
    SCHEMA = "schema"
    BAD_TIME = "bad_time"
    EMPTY = "empty"
    NOT_JSON = "not_json"
    MISSING_FIELD = "missing_field"
    UNMAPPABLE = "unmappable"


MEANINGS = {
    Reason.NOT_AN_OBJECT: "collector, lander: JSON, but not an object",
    Reason.UNKNOWN_TYPE: "collector: `type` missing, not a string, or not in the catalogue",
    Reason.STRUCTURE: "collector: nested deeper than allowed, or a number beyond +-2^53",
    Reason.SCHEMA: "collector: fails the JSON Schema of its type",
    Reason.BAD_TIME: "collector: a time the schema let through that cannot be read",
    Reason.EMPTY: "lander: a record without a value (a tombstone)",
    Reason.NOT_JSON: "lander: a record whose value is not JSON",
    Reason.MISSING_FIELD: "lander: a column that may not be null is missing or of a wrong type",
    Reason.UNMAPPABLE: "lander: the mapping to a row of the landed table failed",
}

FIELDS = {
    "stage": "`collector` or `lander`: the stage that refused the input",
    "reason": "why, from a closed set: see the reasons below",
    "message": f"what exactly, for a human (at most {MESSAGE_MAX_CHARS} characters)",
    "app_id": "the app whose input it is (the collector's from the write key, the lander's "
    "from the record), or null when unknown; never the write key",
    "received_at": "when the refusing stage received the input, RFC 3339 UTC with milliseconds",
    "source": "where in the stage: the collector's `{index, ip, user_agent}` (the event's "
    "place in its request), the lander's `{topic, partition, offset}`",
    "raw": "the input as it came, when it is JSON of at most "
    f"{RAW_MAX_BYTES // 1024} KiB, with any top-level `write_key` or `writeKey` removed; else null",
    "raw_text": "else its text (bytes that are not UTF-8 escaped as `\\xNN`), cut at "
    f"{RAW_MAX_BYTES // 1024} KiB; null when `raw` holds it",
    "raw_bytes": "the size of the input (as received, or as JSON); null when not known",
    "truncated": "true when `raw_text` was cut, or the input could not be kept at all",
}


class Rejection(NamedTuple):
    """Why a check refused an input: the reason code, and the message naming the field."""

    reason: Reason
    message: str


def letter(
    stage: Stage,
    rejection: Rejection,
    raw: Any,
    *,
    app_id: str | None,
    source: dict[str, Any],
    received_at: str | None = None,
    raw_bytes: int | None = None,
) -> bytes:
    """The letter as the DLQ record's value. ``raw``: bytes as read from the wire or a topic,
    or the JSON value already parsed from them, then ``raw_bytes`` the size of those bytes
    when known (else the size of the value as JSON); ``received_at`` defaults to now."""
    body = {
        "stage": str(stage),
        "reason": str(rejection.reason),
        "message": rejection.message[:MESSAGE_MAX_CHARS],
        "app_id": app_id,
        "received_at": received_at or _now(),
        "source": source,
    }
    body.update(_raw_fields(raw, raw_bytes))
    return orjson.dumps(body)


def _raw_fields(raw: Any, raw_bytes: int | None) -> dict[str, Any]:
    if type(raw) is bytes:
        raw_bytes = len(raw)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _as_text(raw, raw_bytes)
    else:
        value = raw
    if type(value) is dict and not CREDENTIALS.isdisjoint(value):
        value = {k: v for k, v in value.items() if k not in CREDENTIALS}
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:  # nested past what orjson writes
        return {"raw": None, "raw_text": None, "raw_bytes": None, "truncated": True}
    size = raw_bytes if raw_bytes is not None else len(encoded)
    if len(encoded) > RAW_MAX_BYTES:
        return _as_text(encoded, size)
    return {
        "raw": orjson.Fragment(encoded),
        "raw_text": None,
        "raw_bytes": size,
        "truncated": False,
    }


def _as_text(data: bytes, size: int) -> dict[str, Any]:
    cut = data[:RAW_MAX_BYTES]
    return {
        "raw": None,
        "raw_text": cut.decode("utf-8", "backslashreplace"),
        "raw_bytes": size,
        "truncated": len(cut) < len(data),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
