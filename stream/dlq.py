"""Records that cannot land, as DLQ letters: the letter of both stages (schemas/dlq.py), its
``source`` the record's topic, partition and offset, its key the original key.

The source makes a re-sent record recognisable: the DLQ is at least once (a crash before the
next publish sends it again).
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.dlq import Reason, Rejection, Stage, letter
from stream.partition_writer import Rejected


def dlq_value(topic: str, partition: int, rejected: Rejected) -> bytes:
    value = rejected.value
    # Parsed once, for the app it names and as the letter's raw; one the decoder found not to
    # be JSON is not tried again here (the letter tries it, and keeps its text).
    raw = value if rejected.reason is Reason.NOT_JSON else _parsed(value)
    return letter(
        Stage.LANDER,
        Rejection(rejected.reason, rejected.detail),
        raw,
        app_id=_app_id(raw),
        source={"topic": topic, "partition": partition, "offset": rejected.offset},
        raw_bytes=None if value is None else len(value),
    )


def _parsed(value: bytes | None) -> Any:
    """The record's JSON value; its bytes when they are not JSON (the letter keeps their text)."""
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _app_id(raw: Any) -> str | None:
    """The app the collector wrote in the record, when the value says it."""
    app_id = raw.get("app_id") if type(raw) is dict else None
    return app_id if type(app_id) is str else None
