"""The HTTP service on a real port with an in-memory sink: answers, limits, CORS, probes."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from collector.settings import WriteKey


@pytest.fixture(scope="module")
def sink(make_sink):
    return make_sink()


@pytest.fixture(scope="module")
def served(serve, sink):
    from collector.settings import CollectorSettings

    return serve(CollectorSettings(workers=1, port=0), sink)


@pytest.fixture(autouse=True)
def _clean(sink):
    sink.events.clear()
    sink.dead.clear()
    sink.fail, sink.delay_s = False, 0.0


def test_batch_is_accepted_enriched_and_keyed_by_device(served, sink, make_event):
    events = [make_event(device_id=f"d_{i}") for i in range(3)]
    answer = served.post(
        "/v1/batch",
        json={"sent_at": "2026-11-11T00:00:04.120+08:00", "events": events},
        headers={"User-Agent": "test-agent/1"},
    )
    assert (answer.status, answer.body) == (200, {"accepted": 3, "rejected": []})
    assert [r.key for r in sink.events] == [b"d_0", b"d_1", b"d_2"]
    stored = orjson.loads(sink.events[0].value)
    assert stored["event_id"] == events[0]["event_id"]
    assert stored["app_id"] == "dev"
    assert stored["ip"] == "127.0.0.1"
    assert stored["user_agent"] == "test-agent/1"
    assert stored["schema_version"] == 2  # the catalogue's latest (event_id v2)
    assert stored["received_at"].endswith("Z")
    assert "write_key" not in stored
    # The landed table's shape: what has no column (the client's ts) is in `extra`.
    assert "ts" not in stored and orjson.loads(stored["extra"])["ts"] == events[0]["ts"]
    assert sink.dead == []


def test_invalid_events_of_a_batch_are_reported_by_index_and_dead_lettered(
    served, sink, make_event
):
    events = [
        make_event(),
        make_event("add_to_cart", properties={"sku": "x", "category": "c", "quantity": 1}),
        "not an event",
        make_event(type="teleport"),
        make_event(device_id=None),
        make_event(),
    ]
    answer = served.post("/v1/batch", json={"events": events})
    assert answer.status == 200
    assert answer.body == {
        "accepted": 2,
        "rejected": [
            {"index": 1, "error": "properties.price: required"},
            {"index": 2, "error": "event: must be an object"},
            {"index": 3, "error": "type: unknown event type 'teleport'"},
            {"index": 4, "error": "device_id: must be a string"},
        ],
    }
    assert len(sink.events) == 2
    letters = [orjson.loads(r.value) for r in sink.dead]
    assert [(d["source"]["index"], d["message"]) for d in letters] == [
        (r["index"], r["error"]) for r in answer.body["rejected"]
    ]
    assert [d["reason"] for d in letters] == ["schema", "not_an_object", "unknown_type", "schema"]
    assert {(d["stage"], d["app_id"]) for d in letters} == {("collector", "dev")}
    assert letters[0]["raw"] == events[1]
    assert letters[1]["raw"] == "not an event"
    assert all(b"write_key" not in r.value for r in sink.dead)
    assert sink.dead[0].key == events[1]["device_id"].encode()
    assert sink.dead[1].key is None


def test_single_event_ok_and_invalid(served, sink, make_event):
    ok = served.post("/v1/event", json=make_event())
    assert (ok.status, ok.body) == (200, {"accepted": 1, "rejected": []})
    bad = served.post("/v1/event", json=make_event(ts="yesterday"))
    assert bad.status == 400
    assert bad.body == {
        "error": "ts: not a valid RFC 3339 time or epoch ms",
        "code": "invalid_event",
    }
    assert len(sink.dead) == 1 and orjson.loads(sink.dead[0].value)["source"]["index"] == 0


def test_a_dead_letter_never_carries_the_write_key(served, sink, make_event):
    """Not from the header, the URL or the event itself (sendBeacon puts it in the event)."""
    secret = "wk_live_secret"
    served_with_key = served.post(
        f"/v1/event?write_key={secret}",
        json=make_event(ts="yesterday", write_key=secret),
        key=secret,
    )
    assert served_with_key.status == 401  # not a key of these settings: nothing is read
    bad = make_event(ts="yesterday", write_key="dev")
    assert served.post("/v1/event", json=bad, key="dev").status == 400
    letter = orjson.loads(sink.dead[-1].value)
    assert letter["reason"] == "schema" and letter["app_id"] == "dev"
    assert "write_key" not in letter["raw"] and "write_key" not in letter
    assert letter["raw"] == {k: v for k, v in bad.items() if k != "write_key"}


@pytest.mark.parametrize("where", ["header", "body", "query"])
def test_write_key_from_header_body_or_query(served, sink, make_event, where):
    event = make_event()
    path, key = "/v1/event", None
    if where == "header":
        key = "dev"
    elif where == "body":
        event["write_key"] = "dev"
    else:
        path += "?write_key=dev"
    answer = served.post(path, json=event, key=key)
    assert answer.status == 200
    assert "write_key" not in orjson.loads(sink.events[-1].value)


def test_sendbeacon_text_plain_with_key_in_url(served, make_event):
    answer = served.post(
        "/v1/batch?write_key=dev",
        data=orjson.dumps({"events": [make_event()]}),
        key=None,
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert answer.status == 200


def test_missing_and_unknown_write_keys(served, make_event):
    missing = served.post("/v1/batch", json={"events": [make_event()]}, key=None)
    assert missing.status == 401
    assert missing.body["error"].startswith("write key missing")
    unknown = served.post("/v1/batch", json={"events": [make_event()]}, key="nope")
    assert (unknown.status, unknown.body["error"]) == (401, "write key unknown")
    in_body = served.post(
        "/v1/batch", json={"write_key": "nope", "events": [make_event()]}, key=None
    )
    assert in_body.status == 401


def test_unknown_key_is_refused_before_the_body_is_read(served):
    # A body that is not even JSON: the key alone decides.
    answer = served.post("/v1/batch", data=b"\x00garbage", key="nope")
    assert (answer.status, answer.body["error"]) == (401, "write key unknown")


def test_kafka_unavailable_is_503_with_retry_after_and_not_ready(served, sink, make_event):
    sink.fail = True
    answer = served.post("/v1/batch", json={"events": [make_event()]})
    assert answer.status == 503
    assert answer.headers["Retry-After"] in ("1", "2", "3")  # spread: errors.py
    assert answer.body == {
        "error": "Kafka is not available: retry later",
        "code": "sink_unavailable",
    }
    ready = served.get("/readyz")
    assert (ready.status, ready.body["kafka"]) == (503, False)
    sink.fail = False
    assert served.get("/readyz").status == 200


def test_health_and_unknown_routes_answer_json(served):
    assert served.get("/healthz").body == {"alive": True}
    missing = served.get("/nope")
    assert (missing.status, missing.body) == (404, {"error": "Not Found", "code": "http"})
    wrong_method = served.get("/v1/batch")
    assert wrong_method.status == 405
    assert "POST" in wrong_method.headers["Allow"]


def test_metrics_count_requests_events_and_refusals(served, make_event):
    served.post("/v1/batch", json={"events": [make_event(), make_event(type="teleport")]})
    served.post("/v1/batch", json={"events": [make_event()]}, key="nope")
    text = served.get("/metrics").body
    assert 'surge_collector_requests_total{route="/v1/batch",status="200"}' in text
    assert 'surge_collector_events_total{outcome="accepted"}' in text
    assert 'surge_collector_events_rejected_total{reason="unknown_type"}' in text
    assert 'surge_collector_requests_refused_total{cause="unauthorized"}' in text
    assert "surge_collector_request_seconds_bucket" in text
    assert "surge_collector_concurrency_limit" in text
    assert 'surge_collector_event_loop_info{loop="asyncio"} 1.0' in text  # the tests' own loop


def test_cors_preflight_and_answers(served, make_event):
    origin = {"Origin": "https://shop.example.com"}
    pre = served.request(
        "OPTIONS", "/v1/batch", headers=origin | {"Access-Control-Request-Method": "POST"}
    )
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Write-Key" in pre.headers["Access-Control-Allow-Headers"]
    answer = served.post("/v1/batch", json={"events": [make_event()]}, headers=origin)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Access-Control-Expose-Headers"] == "Retry-After"
    refused = served.post("/v1/batch", json={}, headers=origin)
    assert refused.status == 400
    assert refused.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_per_key_origins(serve, make_settings, make_event, make_sink):
    served = serve(
        make_settings(
            write_keys={"shop": WriteKey(app_id="shop", cors_origins=("https://shop.example",))},
            cors_origins=(),
        ),
        make_sink(),
    )
    good = served.post(
        "/v1/batch",
        json={"events": [make_event()]},
        key="shop",
        headers={"Origin": "https://shop.example"},
    )
    assert good.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    evil = served.post(
        "/v1/batch",
        json={"events": [make_event()]},
        key="shop",
        headers={"Origin": "https://evil.example"},
    )
    assert "Access-Control-Allow-Origin" not in evil.headers
    pre = served.request(
        "OPTIONS", "/v1/batch?write_key=shop", key=None, headers={"Origin": "https://shop.example"}
    )
    assert pre.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    pre_unknown = served.request(
        "OPTIONS", "/v1/batch", key=None, headers={"Origin": "https://shop.example"}
    )
    assert "Access-Control-Allow-Origin" not in pre_unknown.headers


def test_rate_limit_is_429_with_retry_after(serve, make_settings, make_event, make_sink):
    served = serve(make_settings(events_per_s=10, burst_s=1, max_events_per_batch=20), make_sink())
    batch = {"events": [make_event() for _ in range(20)]}
    assert served.post("/v1/batch", json=batch).status == 200  # the bucket holds one batch
    # Key in the header: refused before the body, as soon as the bucket is empty.
    early = served.post("/v1/batch", json=batch)
    assert (early.status, early.headers["Retry-After"]) == (429, "1")
    # Key in the body: refused once the events are counted, 20 events at 10/s.
    limited = served.post("/v1/batch", json={"write_key": "dev", **batch}, key=None)
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.body == {
        "error": "write key over its rate limit: retry later",
        "code": "rate_limited",
    }


def test_overload_is_shed_fast_with_503_before_reading_the_body(
    serve, make_settings, make_event, runner, make_sink
):
    sink = make_sink()
    sink.delay_s = 0.5
    served = serve(make_settings(max_in_flight=2), sink)
    batch = {"events": [make_event()]}

    async def burst():
        return await asyncio.gather(
            *(served.arequest("POST", "/v1/batch", json=batch) for _ in range(6))
        )

    answers = runner.run(burst())
    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 200, 503, 503, 503, 503]
    shed = [a for a in answers if a.status == 503]
    assert all(a.headers["Retry-After"] in ("1", "2") for a in shed)
    assert all(a.body["code"] == "overloaded" for a in shed)
    assert max(a.elapsed_s for a in shed) < 0.25  # not queued behind the slow ones


def test_whole_request_deadline(serve, make_settings, make_event, make_sink):
    sink = make_sink()
    sink.delay_s = 1.0
    served = serve(make_settings(request_timeout_s=0.3), sink)
    answer = served.post("/v1/batch", json={"events": [make_event()]})
    assert answer.status == 503
    assert answer.body["code"] == "deadline"
    assert answer.elapsed_s < 0.8


def test_idle_and_slow_connections_are_closed_and_a_busy_one_kept(
    serve, make_settings, make_event, make_sink
):
    served = serve(make_settings(idle_timeout_s=0.6), make_sink())
    body = orjson.dumps({"events": [make_event()]})
    request = (
        b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Write-Key: dev\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )

    async def closed_after(conn, feed) -> float | None:
        """Seconds until the server closes the connection while ``feed`` writes to it; None
        if it is still open after 3 s."""
        reader, writer = conn
        started = asyncio.get_running_loop().time()
        feeding = asyncio.create_task(feed(writer))
        try:
            async with asyncio.timeout(3):
                while await reader.read(1 << 16):
                    pass
            return asyncio.get_running_loop().time() - started
        except TimeoutError:
            return None
        finally:
            feeding.cancel()
            writer.close()

    async def idle(writer) -> None:
        await asyncio.sleep(10)

    async def slowloris(writer) -> None:  # a byte of the head every 0.1 s, never whole
        for byte in request[:60]:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)

    async def busy(writer) -> None:  # a whole request every 0.3 s, each answered
        while True:
            writer.write(request)
            await asyncio.sleep(0.3)

    async def scenario():
        opened = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(3)]
        return await asyncio.gather(
            closed_after(opened[0], idle),
            closed_after(opened[1], slowloris),
            closed_after(opened[2], busy),
        )

    idle_s, slow_s, busy_s = served.runner.run(scenario())
    assert idle_s is not None and 0.5 < idle_s < 1.5
    assert slow_s is not None and 0.5 < slow_s < 1.5
    assert busy_s is None
