"""Against the real Kafka of the stack: what is accepted is in surge.events, enriched; what is
rejected is in surge.events.dlq with its reason; every bad input gets its 4xx and message."""

from __future__ import annotations

import gzip
import time
import uuid
import zlib

import orjson
import pytest

from collector.settings import CollectorSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(serve, stack):
    """The collector on the real Kafka."""
    return _ready(
        serve(
            CollectorSettings(
                workers=1,
                port=0,
                kafka_bootstrap=stack.kafka_bootstrap,
                health_interval_s=0.25,
            )
        )
    )


def _ready(app):
    deadline = time.monotonic() + 30
    while app.get("/readyz").status != 200:
        assert time.monotonic() < deadline, "the collector never got ready"
        app.runner.run(_sleep(0.2))
    return app


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def test_accepted_events_are_in_kafka_enriched_and_keyed_by_device(
    served, kafka, runner, make_event
):
    since = runner.run(kafka.end_offsets("surge.events"))
    run = uuid.uuid4().hex
    events = [make_event(device_id=f"d_{run}_{i}") for i in range(5)]
    events.append(make_event("order_placed", device_id=f"d_{run}_5", event_id=None))
    sent_at = "2026-11-11T00:00:04.120+08:00"  # the client sent 1 s after the events
    before_ms = time.time_ns() // 1_000_000
    answer = served.post(
        "/v1/batch",
        json={"sent_at": sent_at, "events": events},
        headers={"User-Agent": "sdk/1.0"},
    )
    assert (answer.status, answer.body) == (200, {"accepted": 6, "rejected": []})

    found = runner.run(
        kafka.read_since(since, lambda v: v.get("device_id", "").startswith(f"d_{run}_"), 6)
    )
    assert len(found) == 6
    by_device = {value["device_id"]: (key, value) for key, value in found}
    for i, sent in enumerate(events):
        key, stored = by_device[f"d_{run}_{i}"]
        assert key == sent["device_id"].encode()
        assert stored["type"] == sent["type"] and orjson.loads(stored["extra"])["ts"] == sent["ts"]
        assert stored["app_id"] == "dev"
        assert stored["ip"] == "127.0.0.1"
        assert stored["user_agent"] == "sdk/1.0"
        assert stored["schema_version"] == 2  # the catalogue's latest (event_id v2)
        received = _ms(stored["received_at"])
        assert before_ms - 5 <= received <= before_ms + 5000
        # ts is 1 s before sent_at by the client's clock: event_time is 1 s before receipt.
        assert _ms(stored["event_time"]) == received - 1000
        if sent["event_id"]:
            assert stored["event_id"] == sent["event_id"]
        else:
            assert uuid.UUID(stored["event_id"])
    assert by_device[f"d_{run}_5"][1]["properties"] == events[5]["properties"]


def test_rejected_events_are_in_the_dlq_with_reason_raw_and_key(served, kafka, runner, make_event):
    since = runner.run(kafka.end_offsets("surge.events.dlq"))
    run = uuid.uuid4().hex
    good = make_event(device_id=f"d_{run}_ok")
    bad = [
        make_event(device_id=f"d_{run}_1", type="teleport"),
        make_event("add_to_cart", device_id=f"d_{run}_2", properties={"sku": "x"}),
        make_event(device_id=f"d_{run}_3", properties={"n": 2**60}),
    ]
    answer = served.post("/v1/batch", json={"events": [good, *bad]})
    assert answer.status == 200
    assert answer.body == {
        "accepted": 1,
        "rejected": [
            {"index": 1, "error": "type: unknown event type 'teleport'"},
            {"index": 2, "error": "properties.category: required"},
            {"index": 3, "error": "properties.n: number too large (beyond +-2^53)"},
        ],
    }
    found = runner.run(
        kafka.read_since(
            since,
            lambda v: (
                isinstance(v.get("raw"), dict)
                and str(v["raw"].get("device_id", "")).startswith(f"d_{run}_")
            ),
            3,
        )
    )
    letters = sorted(found, key=lambda kv: kv[1]["source"]["index"])
    assert [(v["source"]["index"], v["message"]) for _, v in letters] == [
        (r["index"], r["error"]) for r in answer.body["rejected"]
    ]
    assert [v["reason"] for _, v in letters] == ["unknown_type", "schema", "structure"]
    for (key, letter), raw in zip(letters, bad, strict=True):
        assert letter["raw"] == raw
        assert key == raw["device_id"].encode()
        assert (letter["stage"], letter["app_id"]) == ("collector", "dev")
        assert "write_key" not in letter
        assert letter["received_at"].endswith("Z")


def test_records_are_partitioned_by_crc32_of_the_device(served, kafka, runner, make_event):
    """A device's records go to one partition, CRC-32 of the key modulo the count, whatever
    the worker (per-device order), the same as the Java client's and the tools'."""
    since = runner.run(kafka.end_offsets("surge.events"))
    run = uuid.uuid4().hex
    devices = [f"d_{run}_{i}" for i in range(24)]
    answer = served.post("/v1/batch", json={"events": [make_event(device_id=d) for d in devices]})
    assert answer.status == 200
    count = len(since)
    for tp, offset in since.items():
        found = runner.run(
            kafka.read_since(
                {tp: offset},
                lambda v: v.get("device_id", "").startswith(f"d_{run}_"),
                len(devices),
                timeout_s=5,
            )
        )
        expected = {d for d in devices if zlib.crc32(d.encode()) % count == tp.partition}
        assert {key.decode() for key, _ in found} == expected, tp


def test_gzip_bodies_are_accepted(served, make_event):
    answer = served.post("/v1/batch", json={"events": [make_event()]}, gzipped=True)
    assert (answer.status, answer.body["accepted"]) == (200, 1)


def _deep(levels: int) -> dict:
    root: dict = {}
    node = root
    for _ in range(levels):
        node["x"] = {}
        node = node["x"]
    return root


def _cases(event):
    """(name, request kwargs, status, message or part of it)."""
    e = event
    big_event = e(properties={"blob": "x" * 70_000})
    return [
        ("not JSON", {"data": b"{nope"}, 400, "body: not valid JSON"),
        ("invalid UTF-8", {"data": b'{"events": ["\xff\xfe"]}'}, 400, "body: not valid UTF-8"),
        ("JSON not an object", {"json": [e()]}, 400, "body: must be a JSON object"),
        ("events missing", {"json": {"event": [e()]}}, 400, "events: required"),
        ("events not a list", {"json": {"events": e()}}, 400, "events: must be an array"),
        ("events empty", {"json": {"events": []}}, 400, "events: must not be empty"),
        (
            "events too long",
            {"json": {"events": [e()] * 501}},
            413,
            "events: 501 events, more than the 500 allowed in one batch",
        ),
        ("event not an object", {"json": {"events": [7]}}, 200, "event: must be an object"),
        (
            "unknown type",
            {"json": {"events": [e(type="teleport")]}},
            200,
            "type: unknown event type 'teleport'",
        ),
        (
            "missing device_id",
            {"json": {"events": [{k: v for k, v in e().items() if k != "device_id"}]}},
            200,
            "device_id: required",
        ),
        (
            "wrong types",
            {
                "json": {
                    "events": [
                        e(
                            "add_to_cart",
                            properties={"sku": "s", "category": "c", "price": "199", "quantity": 1},
                        )
                    ]
                }
            },
            200,
            "properties.price: must be a number",
        ),
        (
            "NaN",
            {"data": b'{"events": [{"type": "page_view", "x": NaN}]}'},
            400,
            "NaN and Infinity are not JSON numbers",
        ),
        (
            "Infinity",
            {"data": b'{"events": [{"type": "page_view", "x": Infinity}]}'},
            400,
            "NaN and Infinity are not JSON numbers",
        ),
        ("huge float", {"data": b'{"events": [{"x": 1e999}]}'}, 400, "body: number too large"),
        (
            "huge integer",
            {"json": {"events": [e(properties={"count": 10**17})]}},
            200,
            "properties.count: number too large (beyond +-2^53)",
        ),
        (
            "too deep",
            {"json": {"events": [e(properties=_deep(40))]}},
            200,
            "nested deeper than 32 levels",
        ),
        (
            "far too deep for the parser",
            {"data": b'{"events": [' + b"[" * 5000 + b"]" * 5000 + b"]}"},
            400,
            "body: nested too deep",
        ),
        (
            "oversized body",
            {"data": b'{"events": ["' + b"x" * (1024 * 1024) + b'"]}'},
            413,
            "body: larger than 1048576 bytes",
        ),
        (
            "oversized event",
            {"json": {"events": [e(), big_event]}},
            413,
            "more than the 65536 allowed for one event",
        ),
        (
            "gzip bomb",
            {
                "data": gzip.compress(b" " * (20 * 1024 * 1024)),
                "headers": {"Content-Encoding": "gzip"},
            },
            413,
            "body: larger than 8388608 bytes once decompressed",
        ),
        (
            "broken gzip",
            {
                "data": gzip.compress(b"{}")[:10] + b"\xff" * 5,
                "headers": {"Content-Encoding": "gzip"},
            },
            400,
            "body: not valid gzip",
        ),
        (
            "wrong Content-Type",
            {"json": {"events": [e()]}, "headers": {"Content-Type": "application/xml"}},
            415,
            "Content-Type 'application/xml' is not supported",
        ),
        (
            "missing Content-Type",
            {"json": {"events": [e()]}, "headers": {"Content-Type": None}},
            415,
            "Content-Type 'missing' is not supported",
        ),
        (
            "wrong Content-Encoding",
            {"json": {"events": [e()]}, "headers": {"Content-Encoding": "br"}},
            415,
            "Content-Encoding 'br' is not supported",
        ),
        ("unknown write key", {"json": {"events": [e()]}, "key": "nope"}, 401, "write key unknown"),
        ("no write key", {"json": {"events": [e()]}, "key": None}, 401, "write key missing"),
    ]


_CASE_NAMES = [c[0] for c in _cases(lambda *a, **k: {})]


@pytest.mark.parametrize("name", _CASE_NAMES)
def test_bad_input_gets_its_status_and_message(served, make_event, name):
    _, kwargs, status, message = next(c for c in _cases(make_event) if c[0] == name)
    answer = served.post("/v1/batch", **kwargs)
    assert answer.status == status, answer.body
    assert isinstance(answer.body, dict)
    if status == 200:  # an invalid event of a batch: reported by index, nothing accepted
        assert answer.body["accepted"] == 0
        assert answer.body["rejected"][0]["index"] == 0
        assert message in answer.body["rejected"][0]["error"]
    else:
        assert message in answer.body["error"]
        assert answer.body["code"]


@pytest.mark.parametrize(
    ("name", "event_body", "status", "message"),
    [
        ("not an object", b"[1]", 400, "body: must be a JSON object (one event)"),
        ("unknown type", {"type": "teleport"}, 400, "type: unknown event type 'teleport'"),
        ("missing device_id", "drop device_id", 400, "device_id: required"),
        ("NaN", b'{"type": "page_view", "n": NaN}', 400, "NaN and Infinity"),
        ("too deep", "deep", 400, "nested deeper than 32 levels"),
    ],
)
def test_bad_single_events(served, make_event, name, event_body, status, message):
    if event_body == "drop device_id":
        kwargs = {"json": {k: v for k, v in make_event().items() if k != "device_id"}}
    elif event_body == "deep":
        kwargs = {"json": make_event(properties=_deep(40))}
    elif isinstance(event_body, bytes):
        kwargs = {"data": event_body}
    else:
        kwargs = {"json": make_event(**event_body)}
    answer = served.post("/v1/event", **kwargs)
    assert answer.status == status
    assert message in answer.body["error"]


def test_chunked_body_over_the_cap_is_413(served, runner):
    async def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB, no Content-Length

    async def post():
        async with served.session.post(
            served.url + "/v1/batch",
            data=chunks(),
            headers={"Content-Type": "application/json", "X-Write-Key": "dev"},
        ) as response:
            return response.status, orjson.loads(await response.read())

    status, body = runner.run(post())
    assert (status, body["error"]) == (413, "body: larger than 1048576 bytes")


def test_the_service_stays_healthy_after_bad_input(served, make_event):
    assert served.get("/healthz").status == 200
    assert served.get("/readyz").status == 200
    assert served.post("/v1/batch", json={"events": [make_event()]}).status == 200


def _ms(text: str) -> int:
    from schemas.timestamps import to_epoch_ms

    return to_epoch_ms(text)


def test_memory_bound_refuses_at_once_what_it_cannot_hold(serve, stack, make_event):
    """More bytes than max_pending_bytes awaiting Kafka: 503 at once, nothing produced."""
    app = _ready(
        serve(
            CollectorSettings(
                workers=1,
                port=0,
                kafka_bootstrap=stack.kafka_bootstrap,
                health_interval_s=0.25,
                max_pending_bytes=4096,
            )
        )
    )
    small = app.post("/v1/batch", json={"events": [make_event()]})
    assert small.status == 200
    big = app.post("/v1/batch", json={"events": [make_event() for _ in range(20)]})
    assert big.status == 503
    assert big.body == {"error": "Kafka is not keeping up: retry later", "code": "sink_unavailable"}
    assert big.elapsed_s < 0.5
    assert app.get("/readyz").status == 200  # not keeping up is not down
