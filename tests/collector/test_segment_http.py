"""/segment/v1 on a real port with an in-memory sink: auth, content types, CORS, answers."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime
from typing import Any

import orjson
import pytest

from collector.settings import CollectorSettings, SegmentMapping, WriteKey
from tests.collector.doubles import MemorySink

TS, SENT = "2026-11-10T16:00:03.120Z", "2026-11-10T16:00:04.000Z"
KEYS = {
    "dev": WriteKey(app_id="dev"),
    "mini": WriteKey(app_id="mini", segment=SegmentMapping(platform="mini_program")),
}


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def page(n: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": f"ajs-next-1731254403120-{n:08x}",
        "anonymousId": f"anon-{n}",
        "timestamp": TS,
        "context": {"library": {"name": "analytics.js"}, "page": {"url": "https://s.example/"}},
        "properties": {},
    } | fields


@pytest.fixture(scope="module")
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture(scope="module")
def served(serve, sink):
    return serve(CollectorSettings(workers=1, port=0, write_keys=KEYS), sink)


@pytest.fixture(autouse=True)
def _clean(sink):
    sink.events.clear()
    sink.dead.clear()
    sink.fail, sink.delay_s = False, 0.0


def stored(sink: MemorySink) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in sink.events]


def test_batch_with_basic_auth_lands_mapped_and_enriched(served, sink):
    body = {"batch": [page(1), page(2)], "sentAt": SENT}
    answer = served.post("/segment/v1/batch", json=body, key=None, headers=basic("dev"))
    assert (answer.status, answer.body) == (200, {"accepted": 2, "rejected": []})
    first = stored(sink)[0]
    assert (first["type"], first["event_id"], first["device_id"]) == (
        "page_view",
        "ajs-next-1731254403120-00000001",
        "anon-1",
    )
    assert first["app_id"] == "dev" and first["schema_version"] == 2
    assert first["page"] == {"url": "https://s.example/"}
    assert first["context"] == {"platform": "web"}
    # Skew corrected as on /v1: sent 0.88 s after it happened, so 0.88 s before receipt.
    received_ms = _ms(first["received_at"])
    assert received_ms - _ms(first["event_time"]) == 880


@pytest.mark.parametrize(
    ("path", "where"),
    [("/segment/v1/b", "body"), ("/segment/v1/batch?writeKey=dev", "url"), ("/segment/v1/b", "")],
)
def test_write_key_from_body_or_url_and_missing(served, sink, path, where):
    body: dict[str, Any] = {"batch": [page()]}
    if where == "body":
        body["writeKey"] = "dev"
    answer = served.post(path, json=body, key=None)
    if where:
        assert answer.status == 200 and len(sink.events) == 1
    else:
        assert answer.status == 401 and sink.events == []


def test_unknown_key_and_a_malformed_authorization_are_401(served):
    assert (
        served.post(
            "/segment/v1/b", json={"batch": [page()]}, key=None, headers=basic("nope")
        ).status
        == 401
    )
    bad = {"Authorization": "Basic !!not-base64"}
    assert (
        served.post("/segment/v1/b", json={"batch": [page()]}, key=None, headers=bad).status == 401
    )


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/json", "application/json;charset=UTF-8", None, "x/weird"],
)
def test_json_is_read_whatever_the_content_type(served, sink, content_type):
    answer = served.post(
        "/segment/v1/t",
        data=orjson.dumps(
            page(type="track", event="Products Searched", writeKey="dev")
            | {"properties": {"query": "lipstick"}}
        ),
        key=None,
        headers={"Content-Type": content_type},
    )
    assert answer.status == 200
    assert (stored(sink)[0]["type"], stored(sink)[0]["properties"]) == (
        "search",
        {"query": "lipstick"},
    )


@pytest.mark.parametrize("path", ["t", "track", "p", "page", "s", "screen", "i", "identify"])
def test_every_one_call_endpoint(served, sink, path):
    one = page(userId="u_1", writeKey="dev")
    del one["type"]  # the path says it
    one |= {"event": "Products Searched", "properties": {"query": "q"}, "name": "Home"}
    answer = served.post(f"/segment/v1/{path}", json=one, key=None)
    assert (answer.status, answer.body) == (200, {"accepted": 1, "rejected": []})
    kind = {"t": "search", "p": "page_view", "s": "page_view", "i": "identify"}[path[0]]
    assert stored(sink)[0]["type"] == kind


@pytest.mark.parametrize("path", ["g", "group", "a", "alias"])
def test_group_and_alias_are_answered_and_dropped(served, sink, path):
    call = {"g": "group", "a": "alias"}[path[0]]
    answer = served.post(f"/segment/v1/{path}", json=page(type=call, writeKey="dev"), key=None)
    assert (answer.status, answer.body) == (200, {"accepted": 0, "rejected": []})
    assert sink.events == [] and sink.dead == []
    metrics = served.get("/metrics").body
    assert f'surge_collector_segment_dropped_total{{call="{call}"}}' in metrics


def test_telemetry_is_discarded(served, sink):
    answer = served.post("/segment/v1/m", data=b'{"series": []}', key=None)
    assert answer.status == 200 and sink.events == [] and sink.dead == []


def test_a_batch_with_bad_calls_is_200_and_the_bad_ones_go_to_the_dlq(served, sink):
    no_device = page(3)
    del no_device["anonymousId"]
    calls = [
        page(1),
        {
            "type": "track",
            "event": "Product Added",
            "anonymousId": "a",
            "timestamp": TS,
            "properties": {"sku": "LIP-1", "category": "lipstick"},
        },
        "junk",
        no_device,
        page(4, messageId="has a space"),
        {"type": "track", "event": "Coupon Applied", "anonymousId": "a", "timestamp": TS},
        page(5),
    ]
    answer = served.post("/segment/v1/batch", json={"batch": calls}, key=None, headers=basic("dev"))
    assert answer.status == 200
    assert answer.body["accepted"] == 2
    assert [r["error"] for r in answer.body["rejected"]] == [
        "properties.price: required",
        "event: must be an object",
        "device_id: required",
        "event_id: must be 1 to 128 printable ASCII characters without spaces",
    ]
    assert len(sink.dead) == 4
    assert orjson.loads(sink.dead[1].value)["raw"] == "junk"


def test_platform_of_the_write_key(served, sink):
    served.post("/segment/v1/p", json=page(), key=None, headers=basic("mini"))
    assert stored(sink)[0]["context"]["platform"] == "mini_program"


def test_limits_32_kb_per_call_and_500_kb_per_request(served, sink):
    big = page(properties={"blob": "x" * 33_000})
    answer = served.post(
        "/segment/v1/batch", json={"batch": [page(), big]}, key=None, headers=basic("dev")
    )
    assert answer.status == 413 and "events[1]" in answer.body["error"]
    huge = {"batch": [page(i, properties={"blob": "x" * 30_000}) for i in range(18)]}
    answer = served.post("/segment/v1/batch", json=huge, key=None, headers=basic("dev"))
    assert answer.status == 413 and sink.events == []


def test_preflight_allows_the_sdks_headers_and_answers_expose_retry_after(served):
    origin = {"Origin": "http://127.0.0.2:8000"}
    pre = served.request(
        "OPTIONS",
        "/segment/v1/b",
        key=None,
        headers=origin
        | {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-retry-count", "anonymousid", "sentat"} <= allowed
    assert int(pre.headers["Access-Control-Max-Age"]) > 0
    answer = served.post("/segment/v1/p", json=page(), key=None, headers=origin | basic("dev"))
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Access-Control-Expose-Headers"] == "Retry-After"


def test_shedding_is_429_with_an_integer_retry_after(serve, make_settings, runner):
    sink = MemorySink()
    sink.delay_s = 0.5
    served = serve(make_settings(max_in_flight=2), sink)

    async def burst():
        return await asyncio.gather(
            *(
                served.arequest(
                    "POST",
                    "/segment/v1/b",
                    json={"batch": [page(i)]},
                    key=None,
                    headers=basic("dev") | {"Origin": "http://127.0.0.2"},
                )
                for i in range(5)
            )
        )

    answers = runner.run(burst())
    assert sorted(a.status for a in answers) == [200, 200, 429, 429, 429]
    shed = [a for a in answers if a.status == 429]
    assert all(a.headers["Retry-After"].isdigit() for a in shed)
    assert all(a.headers["Access-Control-Expose-Headers"] == "Retry-After" for a in shed)
    # /v1 still answers 503 when shed.
    sink.delay_s = 0.5

    async def native():
        batch = {"batch": [page()]}
        return await asyncio.gather(
            *(
                served.arequest("POST", "/segment/v1/b", json=batch, key=None, headers=basic("dev"))
                for _ in range(2)
            ),
            served.arequest("POST", "/v1/batch", json={"events": []}),
        )

    *_, v1 = runner.run(native())
    assert v1.status == 503


def test_kafka_down_is_503_retried_by_the_sdks(served, sink):
    sink.fail = True
    answer = served.post("/segment/v1/p", json=page(), key=None, headers=basic("dev"))
    assert answer.status == 503 and answer.headers["Retry-After"].isdigit()
