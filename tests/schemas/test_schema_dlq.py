"""The DLQ letter of both stages: one shape whatever the input, bounded, never a write key."""

from __future__ import annotations

import orjson
import pytest

from schemas.dlq import (
    FIELDS,
    MEANINGS,
    MESSAGE_MAX_CHARS,
    RAW_MAX_BYTES,
    Reason,
    Rejection,
    Stage,
    letter,
)

SOURCE = {"topic": "surge.events", "partition": 0, "offset": 1}


def _letter(raw, stage: Stage = Stage.LANDER, message: str = "why") -> dict:
    rejection = Rejection(Reason.SCHEMA, message)
    return orjson.loads(letter(stage, rejection, raw, app_id="shop", source=SOURCE))


def _deep(levels: int) -> list:
    node: list = []
    for _ in range(levels):
        node = [node]
    return node


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "page_view"},
        b'{"type": "page_view"}',
        b"not json",
        b"\xff\xfe",
        None,
        "a string",
        b"[" + b"1," * RAW_MAX_BYTES + b"1]",
        _deep(300),
    ],
    ids=["value", "json-bytes", "text", "not-utf8", "none", "string", "too-large", "too-deep"],
)
@pytest.mark.parametrize("stage", list(Stage))
def test_every_letter_has_the_same_fields(raw, stage):
    assert list(_letter(raw, stage)) == list(FIELDS)


def test_the_input_is_kept_as_json_when_it_is_json():
    value = _letter(b'{"a": [1, 2]}')
    assert (value["raw"], value["raw_text"], value["raw_bytes"]) == ({"a": [1, 2]}, None, 13)
    assert _letter(b"nope")["raw_text"] == "nope"
    assert _letter(b"\xffok")["raw_text"] == "\\xffok"


def test_a_write_key_of_the_input_is_removed():
    for raw in (
        {"write_key": "wk_live_1", "type": "x"},
        b'{"write_key": "wk_live_1", "type": "x"}',
        {"writeKey": "wk_live_1", "type": "x"},  # as analytics.js puts it in every call
    ):
        value = _letter(raw, Stage.COLLECTOR)
        assert value["raw"] == {"type": "x"}
        assert b"wk_live_1" not in letter(
            Stage.COLLECTOR, Rejection(Reason.SCHEMA, "x"), raw, app_id="a", source={}
        )


def test_the_raw_input_and_the_message_are_bounded():
    big = {"type": "x", "blob": "y" * (2 * RAW_MAX_BYTES)}
    value = _letter(big, message="m" * 10_000)
    assert value["raw"] is None and value["truncated"] is True
    assert len(value["raw_text"].encode()) == RAW_MAX_BYTES
    assert value["raw_bytes"] == len(orjson.dumps(big))
    assert len(value["message"]) == MESSAGE_MAX_CHARS
    deep = _letter(_deep(300))
    assert (deep["raw"], deep["raw_text"], deep["truncated"]) == (None, None, True)


def test_received_at_is_given_or_now():
    given = letter(
        Stage.LANDER, Rejection(Reason.EMPTY, "e"), None, app_id=None, source={}, received_at="t"
    )
    assert orjson.loads(given)["received_at"] == "t"
    now = _letter(None)["received_at"]
    assert now.endswith("Z") and len(now) == len("2026-11-10T16:00:16.000Z")


def test_every_reason_has_a_meaning():
    assert set(MEANINGS) == set(Reason)
