"""Parsing and the envelope: each refusal says what is wrong."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest

from collector import body, parse
from collector.errors import Cause, CollectorError
from schemas.dlq import Reason, Rejection


class Envelopes:
    """A stand-in for the envelope schema: refuses a write_key that is not a string."""

    def validate(self, doc):
        key = doc.get("write_key")
        return None if key is None or isinstance(key, str) else "write_key: must be a string"


def refused(call, *args):
    with pytest.raises(CollectorError) as caught:
        call(*args)
    return caught.value.cause, caught.value.message


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"", "body: empty"),
        (b"   ", "body: empty"),
        (b"{not json", "body: not valid JSON"),
        (b'{"a": "\xff\xfe"}', "body: not valid UTF-8"),
        (b'{"a": "\\ud800"}', "body: not valid UTF-8"),
        (b'{"a": NaN}', "NaN and Infinity are not JSON numbers"),
        (b'{"a": -Infinity}', "NaN and Infinity are not JSON numbers"),
        (b'{"a": 1e999}', "body: number too large"),
        (b"[" * 2000 + b"]" * 2000, "body: nested too deep"),
        (b'{"a": 1} trailing', "body: not valid JSON"),
    ],
)
def test_bad_json_is_malformed_with_a_reason(raw, says):
    cause, message = refused(parse.parse_json, raw)
    assert cause is Cause.MALFORMED
    assert says in message


def test_a_utf8_bom_is_ignored():
    assert parse.parse_json(b"\xef\xbb\xbf{}") == {}


@pytest.mark.parametrize(
    ("doc", "cause", "says"),
    [
        ([], Cause.MALFORMED, "body: must be a JSON object"),
        ("events", Cause.MALFORMED, "body: must be a JSON object"),
        ({}, Cause.MALFORMED, "events: required"),
        ({"events": {}}, Cause.MALFORMED, "events: must be an array"),
        ({"events": None}, Cause.MALFORMED, "events: must be an array"),
        ({"events": []}, Cause.MALFORMED, "events: must not be empty"),
        ({"events": [{}] * 4}, Cause.TOO_LARGE, "4 events, more than the 3 allowed"),
        ({"events": [{}], "write_key": 7}, Cause.MALFORMED, "write_key: must be a string"),
    ],
)
def test_bad_envelopes(doc, cause, says):
    got_cause, message = refused(parse.batch_envelope, doc, 3, Envelopes())
    assert got_cause is cause
    assert says in message


def test_batch_envelope():
    envelope = parse.batch_envelope(
        {"events": [{"a": 1}], "write_key": "dev", "sent_at": 5}, 3, Envelopes()
    )
    assert envelope == parse.Envelope([{"a": 1}], "dev", 5, single=False)


def test_single_envelope():
    assert refused(parse.single_envelope, [1]) == (
        Cause.MALFORMED,
        "body: must be a JSON object (one event)",
    )
    assert refused(parse.single_envelope, {"write_key": 1})[1] == (
        "write_key: must be a string or null"
    )
    event = {"type": "page_view", "write_key": "dev"}
    assert parse.single_envelope(event) == parse.Envelope([event], "dev", None, single=True)


def test_structure_depth_and_numbers_name_the_field():
    deep: dict = {"type": "x"}
    node = deep
    for _ in range(40):
        node["n"] = {}
        node = node["n"]
    # The event is level 1: the object at level 33 is the 32nd "n".
    assert parse.structure_problem(deep, 32) == Rejection(
        Reason.STRUCTURE, ".".join(["n"] * 32) + ": nested deeper than 32 levels"
    )
    assert parse.structure_problem({"properties": {"x": [1, 2**60]}}, 32) == Rejection(
        Reason.STRUCTURE, "properties.x[1]: number too large (beyond +-2^53)"
    )
    assert parse.structure_problem({"p": {"amount": -1.5e300}}, 32) == Rejection(
        Reason.STRUCTURE, "p.amount: number too large (beyond +-2^53)"
    )
    assert parse.structure_problem({"ok": [2**53, -(2**53), 1.5, True]}, 32) is None
    exactly_32: dict = {}
    node = exactly_32
    for _ in range(31):  # 31 objects under the event: level 32
        node["n"] = {}
        node = node["n"]
    assert parse.structure_problem(exactly_32, 32) is None
    node["n"] = []
    assert parse.structure_problem(exactly_32, 32).message.endswith("nested deeper than 32 levels")
    assert parse.structure_problem([1], 32) == (Reason.NOT_AN_OBJECT, "event: must be an object")


def test_event_size_is_checked_only_when_the_body_could_hold_a_large_one():
    small, large = {"a": "x"}, {"a": "x" * 100}
    parse.check_event_sizes([large], body_bytes=50, limit=64)  # cannot be: not even measured
    cause, message = refused(parse.check_event_sizes, [small, large], 200, 64)
    assert cause is Cause.TOO_LARGE
    assert message == "events[1]: 108 bytes, more than the 64 allowed for one event"


# --- body.py


@pytest.mark.parametrize(
    ("mimetype", "charset", "ok"),
    [
        ("application/json", None, True),
        ("text/plain", "UTF-8", True),
        ("application/json", "utf-8", True),
        ("application/x-www-form-urlencoded", None, False),
        ("", None, False),
        ("application/json", "latin-1", False),
    ],
)
def test_content_types(mimetype, charset, ok):
    if ok:
        body.check_content_type(mimetype, charset)
    else:
        assert refused(body.check_content_type, mimetype, charset)[0] is Cause.UNSUPPORTED


def test_content_encodings():
    assert body.check_content_encoding("gzip") is True
    assert body.check_content_encoding("") is False
    assert body.check_content_encoding("identity") is False
    cause, message = refused(body.check_content_encoding, "br")
    assert cause is Cause.UNSUPPORTED
    assert message == "Content-Encoding 'br' is not supported: send gzip or identity"


def test_gunzip_caps_the_output_of_a_bomb():
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB in ~50 KB
    cause, message = refused(body.gunzip, bomb, 1_000_000)
    assert cause is Cause.TOO_LARGE
    assert message == "body: larger than 1000000 bytes once decompressed"


def test_gunzip_reads_every_member_and_refuses_broken_data():
    data = orjson.dumps({"events": [1]})
    assert body.gunzip(gzip.compress(data[:5]) + gzip.compress(data[5:]), 100) == data
    assert refused(body.gunzip, b"not gzip at all", 100)[0] is Cause.MALFORMED
    assert refused(body.gunzip, gzip.compress(data)[:-12], 100) == (
        Cause.MALFORMED,
        "body: truncated gzip",
    )
    raw_deflate = zlib.compress(data)
    assert refused(body.gunzip, raw_deflate, 100)[0] is Cause.MALFORMED


class Chunks:
    def __init__(self, *chunks: bytes, stall: bool = False):
        self.chunks = list(chunks)
        self.stall = stall

    async def readany(self) -> bytes:
        import asyncio

        if not self.chunks and self.stall:
            await asyncio.sleep(10)
        return self.chunks.pop(0) if self.chunks else b""


def test_read_capped():
    import asyncio

    assert asyncio.run(body.read_capped(Chunks(b"ab", b"cd"), 4, 1)) == b"abcd"
    with pytest.raises(CollectorError) as big:
        asyncio.run(body.read_capped(Chunks(b"ab", b"cde"), 4, 1))
    assert big.value.cause is Cause.TOO_LARGE
    with pytest.raises(CollectorError) as slow:
        asyncio.run(body.read_capped(Chunks(b"ab", stall=True), 4, 0.05))
    assert (slow.value.cause, slow.value.message) == (
        Cause.BODY_TIMEOUT,
        "body: not received within 0.05 s",
    )
