"""A record's value -> a row of the landed table, or the reason it cannot be one.

The mapping itself is `schemas.to_row`; this module only decides what the lander refuses.
Reasons are a closed set (they label the DLQ metric); the detail says what exactly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson

from schemas import to_row

# Columns the table declares non-null: a row without them cannot be landed or bucketed.
REQUIRED = ("event_id", "type", "event_time", "received_at", "device_id")


class Reason(StrEnum):
    EMPTY = "empty"  # no value (a tombstone)
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"  # JSON, but not an object
    MISSING_FIELD = "missing_field"  # a required column is absent or not of its type
    UNMAPPABLE = "unmappable"  # the mapping to a row failed (or the row to Arrow)


class Undecodable(Exception):
    def __init__(self, reason: Reason, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(value: bytes | None) -> dict[str, Any]:
    """The row of one record value; raises Undecodable."""
    if not value:
        raise Undecodable(Reason.EMPTY, "record has no value")
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Undecodable(Reason.NOT_JSON, str(exc)) from None
    if not isinstance(event, dict):
        raise Undecodable(Reason.NOT_OBJECT, f"JSON {type(event).__name__}, not an object")
    try:
        row = to_row(event)
    except Exception as exc:  # a bug or a shape schemas/ never foresaw: park it, keep landing
        raise Undecodable(Reason.UNMAPPABLE, f"{type(exc).__name__}: {exc}") from None
    missing = [name for name in REQUIRED if row[name] is None]
    if missing:
        # to_row keeps a value of the wrong type in `extra`; say which it was.
        raise Undecodable(Reason.MISSING_FIELD, f"missing or invalid: {', '.join(missing)}")
    return row
