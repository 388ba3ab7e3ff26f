"""The real SDKs against a collector on the real Kafka: what they send lands, mapped.

Segment's analytics-node and analytics-next, RudderStack's rudder-sdk-node and analytics-js (v3,
in the same headless chromium), as published: pinned in tests/sdk (package-lock.json; `make
test` runs tests/sdk/setup.sh, which installs them with npm ci, and Debian's chromium). Without
node, the packages or chromium these tests skip, except in CI (env CI set), where they fail.

A ``Relay`` between SDK and collector notes what the SDK sent and plays the faults a resend
answers: a shed request, and an answer lost after the events were in Kafka, whose resend lands
them twice under the same event ids for the reports' deduplication to remove.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
from aiohttp import ClientSession, web

from batch.events import READ_COLUMNS, deduplicate
from collector.settings import CollectorSettings
from infra.browser import chromium_path
from stream.rows import to_table

pytestmark = pytest.mark.integration

SDK_DIR = Path(__file__).resolve().parents[1] / "sdk"
BASIC_DEV = (
    "Basic " + base64.b64encode(b"dev:").decode()
)  # the write key `dev`, as the SDKs send it


def need(ok: bool, what: str) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing: tests/sdk/setup.sh installs it")
        pytest.skip(f"{what} is missing: run `make sdk-setup`")


def _leaving(log: list[dict]) -> int:
    """Where browser_send.mjs left the page, in its log."""
    return next(i for i, e in enumerate(log) if e["event"] == "leaving")


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    need(found is not None, "node")
    need((SDK_DIR / "node_modules" / ".installed").exists(), "tests/sdk/node_modules")
    return found  # type: ignore[return-value]


@pytest.fixture(scope="module")
def served(serve, stack, runner):
    """The collector on the real Kafka (its own port, the local key `dev`)."""
    app = serve(
        CollectorSettings(
            workers=1, port=0, kafka_bootstrap=stack.kafka_bootstrap, health_interval_s=0.25
        )
    )
    deadline = time.monotonic() + 30
    while app.get("/readyz").status != 200:
        assert time.monotonic() < deadline, "the collector never got ready"
        runner.run(asyncio.sleep(0.2))
    return app


Fault = Literal["shed", "lose"]
# Not passed on by the relay: they describe one hop, not the request.
_HOP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
)


@dataclass(frozen=True)
class Post:
    at: float  # time.monotonic()
    path: str  # with its query
    headers: dict[str, str]
    body: Any  # JSON, gunzipped when it came gzipped


class Relay:
    """In front of the collector: every request (preflights too) is passed on and its answer
    passed back, but the n-th POST (from 1) listed in ``faults`` meets its fault:

    - "shed": answered 429 ``Retry-After: 1``, as the collector sheds, and not passed on;
    - "lose": passed on and answered by the collector (its events are in Kafka), then the
      connection is cut before the answer, as a network or a proxy loses one.

    Every POST is noted in ``posts``; every preflight in ``preflights``: the headers it asked
    for, the collector's status and the headers it allowed."""

    def __init__(self, upstream: str, faults: dict[int, Fault] | None = None):
        self.upstream = upstream
        self.faults = faults or {}
        self.posts: list[Post] = []
        self.preflights: list[tuple[str, int, str]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        fault = None
        if request.method == "POST":
            body = gzip.decompress(raw) if request.headers.get("Content-Encoding") else raw
            self.posts.append(
                Post(time.monotonic(), request.path_qs, dict(request.headers), orjson.loads(body))
            )
            fault = self.faults.get(len(self.posts))
        if fault == "shed":
            return web.json_response(
                {"code": "overloaded"},
                status=429,
                headers={"Retry-After": "1", **_cors_answer(request)},
            )
        passed = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with (
            ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=raw, headers=passed
            ) as up,
        ):
            answer = await up.read()
            headers = {k: v for k, v in up.headers.items() if k.lower() not in _HOP_HEADERS}
        if request.method == "OPTIONS":
            asked = request.headers.get("Access-Control-Request-Headers", "")
            allowed = headers.get("Access-Control-Allow-Headers", "")
            self.preflights.append((asked, up.status, allowed))
        if fault == "lose":
            assert up.status == 200, answer  # the collector took the events
            request.transport.close()  # type: ignore[union-attr]
            raise ConnectionResetError("the relay lost the collector's answer")
        return web.Response(status=up.status, body=answer, headers=headers)


def _cors_answer(request: web.Request) -> dict[str, str]:
    """The CORS headers the collector would have put on its answer (its loopback test origin)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": "Retry-After"}


async def _serve_on(handler: Callable, host: str = "127.0.0.1") -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, auto_decompress=False)  # the relay passes gzip on
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{host}:{port}"


async def _run(*command: str, timeout_s: float = 60) -> str:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=SDK_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        raise
    text = out.decode()
    assert process.returncode == 0, text
    return text


def _send_through(relay: Relay, runner, *command: str) -> str:
    """Runs ``command`` with the relay's URL as its one new argument ("{relay}" in it)."""

    async def send() -> str:
        server, url = await _serve_on(relay.handle)
        try:
            return await _run(*(part.format(relay=url) for part in command))
        finally:
            await server.cleanup()

    return runner.run(send())


def test_analytics_node_lands_mapped_and_retries_a_429_after_retry_after(
    node, served, kafka, runner
):
    device = f"node-{uuid.uuid4().hex}"
    since = runner.run(kafka.end_offsets("surge.events"))
    relay = Relay(served.url, {1: "shed"})
    output = _send_through(relay, runner, node, "node_send.mjs", "{relay}", "dev", device)
    assert "error" not in output.lower(), output

    # One batch, shed once, resent once: after Retry-After, the same messageIds, counted.
    assert len(relay.posts) == 2, relay.posts
    shed, resent = relay.posts
    assert resent.at - shed.at >= 1.0
    assert resent.headers.get("X-Retry-Count") == "1"
    assert resent.headers["Authorization"] == BASIC_DEV
    message_ids = [call["messageId"] for call in shed.body["batch"]]
    assert [call["messageId"] for call in resent.body["batch"]] == message_ids

    found = runner.run(kafka.read_since(since, lambda v: v.get("device_id") == device, 3))
    by_type = {value["type"]: value for _, value in found}
    assert sorted(by_type) == ["identify", "order_placed", "page_view"]
    assert sorted(v["event_id"] for v in by_type.values()) == sorted(message_ids)
    order = by_type["order_placed"]
    assert order["user_id"] == "u_sdk" and order["context"]["platform"] == "server"
    assert order["properties"]["order_id"] == "SO-SDK-1"
    assert order["properties"]["amount"] == 398 and order["properties"]["currency"] == "CNY"
    assert order["properties"]["items"] == [
        {"sku": "LIP-0042", "category": "lipstick", "price": 199, "quantity": 2}
    ]
    assert by_type["page_view"]["page"] == {"url": "https://shop.example/", "title": "Home"}
    assert by_type["identify"]["user_id"] == "u_sdk"
    assert "traits" not in orjson.loads(by_type["identify"]["extra"])


@pytest.fixture(scope="module")
def chromium(node) -> str:
    found = chromium_path()
    need(found is not None, "chromium (Debian's package: make browser)")
    return found


def _page_server(page: str, prefix: str, sdk_dist: Path) -> Callable:
    """The page, and under ``prefix`` its SDK's files (the npm package's bundles), nothing else."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == f"/{page}":
            return web.FileResponse(SDK_DIR / page)
        name = request.path.removeprefix(prefix)
        if name != request.path and "/" not in name and (sdk_dist / name).is_file():
            return web.FileResponse(sdk_dist / name)
        raise web.HTTPNotFound()

    return handle


def test_analytics_next_in_chromium_from_another_origin_flushes_a_hidden_tab(
    chromium, node, served, kafka, runner
):
    device = f"browser-{uuid.uuid4().hex}"
    since = runner.run(kafka.end_offsets("surge.events"))
    dist = SDK_DIR / "node_modules/@segment/analytics-next/dist/umd"
    api_host = f"127.0.0.1:{served.port}/segment/v1"

    async def browse() -> str:
        # Another loopback address: another origin than the collector's, so CORS applies.
        pages = _page_server("page.html", "/analytics-next/bundles/", dist)
        server, origin = await _serve_on(pages, host="127.0.0.2")
        try:
            url = f"{origin}/page.html?writeKey=dev&apiHost={api_host}&device={device}"
            return await _run(node, "browser_send.mjs", url, timeout_s=90)
        finally:
            await server.cleanup()

    log = orjson.loads(runner.run(browse()).strip().splitlines()[-1])
    assert not [e for e in log if e["event"] in ("pageerror", "failed")], log
    # Nothing went to the collector while the page was shown: the batch waited for the hide.
    leaving = _leaving(log)
    assert not [e for e in log[:leaving] if "/segment/v1/" in e.get("url", "")], log

    # After the page was gone: its keepalive flush landed, mapped, after its CORS preflight.
    found = runner.run(kafka.read_since(since, lambda v: v.get("device_id") == device, 3))
    by_type = {value["type"]: value for _, value in found}
    assert sorted(by_type) == ["identify", "page_view", "product_view"]
    assert all(v["event_id"].startswith("ajs-next-") for v in by_type.values())
    assert all(v["user_id"] == "u_browser" for v in by_type.values())
    assert all(v["context"]["platform"] == "web" for v in by_type.values())
    assert by_type["page_view"]["page"]["url"].startswith(origin_of(log) + "/page.html")
    assert by_type["product_view"]["properties"] == {
        "sku": "LIP-0042",
        "category": "lipstick",
        "price": 199,
    }
    metrics = served.get("/metrics").body
    assert 'surge_collector_requests_total{route="/segment/v1/{call}",status="204"}' in metrics
    assert 'surge_collector_requests_total{route="/segment/v1/b",status="200"}' in metrics


def origin_of(log: list[dict[str, Any]]) -> str:
    page = next(e["url"] for e in log if e["event"] == "request" and "/page.html" in e["url"])
    return page.split("/page.html")[0]


# --- RudderStack's SDKs: pointed at the collector's /segment, they add /v1/... themselves.


def test_rudder_sdk_node_lands_mapped_and_retries_a_429(node, served, kafka, runner):
    device = f"rudder-node-{uuid.uuid4().hex}"
    since = runner.run(kafka.end_offsets("surge.events"))
    relay = Relay(served.url, {1: "shed"})
    command = (node, "rudder_node_send.mjs", "{relay}/segment", "dev", device)
    output = _send_through(relay, runner, *command)
    assert all(call["error"] is None for call in orjson.loads(output.splitlines()[-1])), output

    # Its first call goes alone, at once; the two others with the flush. Each a gzipped batch
    # to <dataPlaneUrl>/v1/batch with the key as the Basic user; the shed one resent as it was,
    # after Retry-After (axios-retry's delay is at least the header's).
    assert [p.path for p in relay.posts] == ["/segment/v1/batch"] * 3, relay.posts
    assert all(p.headers["Authorization"] == BASIC_DEV for p in relay.posts)
    assert all(p.headers["Content-Encoding"] == "gzip" for p in relay.posts)
    shed, resent, rest = relay.posts
    assert resent.at - shed.at >= 1.0
    assert resent.body == shed.body  # the same bytes: messageId and sentAt unchanged
    calls = {call["type"]: call for call in shed.body["batch"] + rest.body["batch"]}
    assert sorted(calls) == ["identify", "page", "track"]

    found = runner.run(kafka.read_since(since, lambda v: v.get("device_id") == device, 3))
    by_type = {value["type"]: value for _, value in found}
    assert sorted(by_type) == ["identify", "order_placed", "page_view"]
    for kind, call in (("order_placed", "track"), ("page_view", "page"), ("identify", "identify")):
        event = by_type[kind]
        assert event["event_id"] == calls[call]["messageId"]
        assert orjson.loads(event["extra"])["ts"] == calls[call]["originalTimestamp"]
        assert event["user_id"] == "u_rudder"
    order = by_type["order_placed"]
    assert order["context"]["platform"] == "server"  # its context.library.name: analytics-node
    assert order["properties"]["order_id"] == "SO-RS-1"
    assert order["properties"]["amount"] == 398 and order["properties"]["currency"] == "CNY"
    assert order["properties"]["items"] == [
        {"sku": "LIP-0042", "category": "lipstick", "price": 199, "quantity": 2}
    ]
    assert by_type["page_view"]["page"] == {"url": "https://shop.example/", "title": "Home"}
    assert "traits" not in orjson.loads(by_type["identify"]["extra"])


RUDDER_DIST = "node_modules/@rudderstack/analytics-js/dist/npm/modern/bundled/umd"


@pytest.mark.parametrize("transport", ["xhr", "beacon"])
def test_rudderstack_analytics_js_in_chromium_from_another_origin(
    transport, chromium, node, served, kafka, runner
):
    """XHR (its default): one call per request on /v1/<type>, after a preflight; the first is
    shed, and its resend carries RudderStack's Rsa-* headers, which the preflight must allow.
    Beacon: one text/plain batch on /beacon/v1/batch?writeKey=, no preflight, no header."""
    device = f"rudder-{transport}-{uuid.uuid4().hex}"
    since = runner.run(kafka.end_offsets("surge.events"))
    relay = Relay(served.url, {1: "shed"} if transport == "xhr" else {})
    answered = 3 if transport == "xhr" else 1  # POSTs answered 200, then the page is left

    async def browse() -> tuple[str, str]:
        server, relay_url = await _serve_on(relay.handle)
        pages = _page_server(
            "rudderstack.html", "/rudderstack/analytics-js/", SDK_DIR / RUDDER_DIST
        )
        page_server, origin = await _serve_on(pages, host="127.0.0.2")
        try:
            url = (
                f"{origin}/rudderstack.html?writeKey=dev&dataPlaneUrl={relay_url}/segment"
                f"&device={device}&transport={transport}"
            )
            return await _run(node, "browser_send.mjs", url, str(answered), timeout_s=90), origin
        finally:
            await page_server.cleanup()
            await server.cleanup()

    output, origin = runner.run(browse())
    log = orjson.loads(output.strip().splitlines()[-1])
    leaving = _leaving(log)
    assert log[leaving]["waited"] == "answered", log  # every POST answered before leaving
    # A request still open when the shopper leaves is aborted by the browser: only failures
    # while the page was shown count (the events' landing is checked below).
    assert not [e for e in log[:leaving] if e["event"] in ("pageerror", "failed")], log
    # Nothing asked of RudderStack's servers (settings inline, plugins bundled): all loopback.
    assert all(e["url"].startswith(("http://127.0.0.", "about:")) for e in log if "url" in e)

    found = runner.run(kafka.read_since(since, lambda v: v.get("device_id") == device, 3))
    by_type = {value["type"]: value for _, value in found}
    assert sorted(by_type) == ["identify", "page_view", "product_view"]
    sent = [call for post in relay.posts for call in post.body.get("batch", [post.body])]
    ids = {call["type"]: call["messageId"] for call in sent}
    kinds = {"page_view": "page", "product_view": "track", "identify": "identify"}
    assert {kind: by_type[kind]["event_id"] for kind in kinds} == {
        kind: ids[call] for kind, call in kinds.items()
    }
    assert all(v["context"]["platform"] == "web" for v in by_type.values())
    assert all(v["session_id"] for v in by_type.values())  # its context.sessionId
    # Anonymous until identify: RudderStack's userId "" is no user.
    assert "user_id" not in by_type["page_view"] and "user_id" not in by_type["product_view"]
    assert by_type["identify"]["user_id"] == "u_browser"
    page = by_type["page_view"]["page"]
    assert page["url"].startswith(origin + "/rudderstack.html") and page["referrer"] is None
    assert by_type["product_view"]["properties"] == {
        "sku": "LIP-0042",
        "category": "lipstick",
        "price": 199,
    }

    if transport == "beacon":
        (post,) = relay.posts
        assert post.path == "/segment/beacon/v1/batch?writeKey=dev"
        assert "Authorization" not in post.headers
        assert post.headers["Content-Type"].startswith("text/plain")
        return
    assert sorted(p.path for p in relay.posts[1:]) == [
        f"/segment/v1/{kind}" for kind in ("identify", "page", "track")
    ]
    shed = relay.posts[0]
    (resent,) = [p for p in relay.posts if "Rsa-Retry-Attempt" in p.headers]
    assert resent.body["messageId"] == shed.body["messageId"] and resent.at > shed.at
    assert all(p.headers["Authorization"] == BASIC_DEV for p in relay.posts)
    assert all(base64.b64decode(p.headers["AnonymousId"]).decode() == device for p in relay.posts)
    # A preflight per call, each header it asked for allowed; the resend's Rsa-* headers too
    # (chromium's preflight cache let it through: a new preflight would ask for them).
    assert len(relay.preflights) == 3, relay.preflights
    allowed = set()
    for asked, status, answer in relay.preflights:
        allowed = {h.strip().lower() for h in answer.split(",")}
        assert status == 204 and set(asked.split(",")) <= allowed
    assert {h.lower() for h in resent.headers if h.startswith("Rsa-")} <= allowed


# --- A resend after a lost answer: the same event ids, removed by the reports' deduplication.


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A small local Spark session (the batch tests' one when it runs already)."""
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    session = running or (
        SparkSession.builder.master("local[1]")
        .appName("surge-sdk-tests")
        .config("spark.driver.memory", "512m")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    if running is None:
        session.stop()


@pytest.mark.parametrize(
    ("driver", "url"),
    [("node_send.mjs", "{relay}"), ("rudder_node_send.mjs", "{relay}/segment")],
    ids=["analytics-node", "rudder-sdk-node"],
)
def test_a_batch_resent_after_its_answer_was_lost_is_deduplicated_by_the_reports(
    driver, url, node, served, kafka, runner, spark
):
    device = f"resend-{uuid.uuid4().hex}"
    since = runner.run(kafka.end_offsets("surge.events"))
    relay = Relay(served.url, {1: "lose"})
    _send_through(relay, runner, node, driver, url, "dev", device)

    # The SDK resent the batch whose answer it never saw, with the same messageIds.
    lost, resent = relay.posts[0], relay.posts[1]
    lost_ids = [call["messageId"] for call in lost.body["batch"]]
    assert [call["messageId"] for call in resent.body["batch"]] == lost_ids
    sent = Counter(call["messageId"] for post in relay.posts for call in post.body["batch"])
    assert len(sent) == 3  # track, page, identify

    # Both copies landed, under the same event id (and device, the dedup's key).
    found = runner.run(
        kafka.read_since(since, lambda v: v.get("device_id") == device, sum(sent.values()))
    )
    landed = Counter(value["event_id"] for _, value in found)
    assert landed == sent and all(landed[i] == 2 for i in lost_ids), (landed, sent)

    # The reports read them as the lander writes them and keep one row per event.
    rows = spark.createDataFrame(to_table([value for _, value in found])).select(*READ_COLUMNS)
    kept = deduplicate(rows).collect()
    assert sorted(row.event_id for row in kept) == sorted(sent)
    assert {row.device_id for row in kept} == {device}
