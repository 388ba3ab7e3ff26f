"""The real SDKs against a collector on the real Kafka: what they send lands, mapped.

The SDKs are pinned in tests/sdk (package-lock.json; `make test` runs tests/sdk/setup.sh, which
installs them with npm ci, and Debian's chromium). Without node, the packages or chromium these
tests skip, except in CI (env CI set), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, web

from collector.settings import CollectorSettings
from infra.browser import chromium_path

pytestmark = pytest.mark.integration

SDK_DIR = Path(__file__).resolve().parents[1] / "sdk"


def need(ok: bool, what: str) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing: tests/sdk/setup.sh installs it")
        pytest.skip(f"{what} is missing: run `make sdk-setup`")


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


class ShedOnce:
    """In front of the collector: the first request is answered 429 ``Retry-After: 1`` (as
    the collector sheds), the others are passed on. Every request is noted."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.seen: list[tuple[float, dict[str, str], Any]] = []  # (time, headers, body)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.seen.append((time.monotonic(), dict(request.headers), orjson.loads(raw)))
        if len(self.seen) == 1:
            return web.json_response(
                {"code": "overloaded"}, status=429, headers={"Retry-After": "1"}
            )
        passed = {
            k: v for k, v in request.headers.items() if k in ("Authorization", "Content-Type")
        }
        async with (
            ClientSession() as session,
            session.post(self.upstream + request.path_qs, data=raw, headers=passed) as up,
        ):
            return web.Response(status=up.status, body=await up.read())


async def _serve_on(handler: Callable, host: str = "127.0.0.1") -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
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


def test_analytics_node_lands_mapped_and_retries_a_429_after_retry_after(
    node, served, kafka, runner
):
    device = f"node-{uuid.uuid4().hex}"
    since = runner.run(kafka.end_offsets("surge.events"))
    proxy = ShedOnce(served.url)

    async def send() -> str:
        server, url = await _serve_on(proxy.handle)
        try:
            return await _run(node, "node_send.mjs", url, "dev", device)
        finally:
            await server.cleanup()

    output = runner.run(send())
    assert "error" not in output.lower(), output

    # One batch, shed once, resent once: after Retry-After, the same messageIds, counted.
    assert len(proxy.seen) == 2, proxy.seen
    (shed_at, _, shed), (resent_at, headers, resent) = proxy.seen
    assert resent_at - shed_at >= 1.0
    assert headers.get("X-Retry-Count") == "1"
    assert headers["Authorization"].startswith("Basic ")
    message_ids = [call["messageId"] for call in shed["batch"]]
    assert [call["messageId"] for call in resent["batch"]] == message_ids

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


def _page_server(sdk_dist: Path) -> Callable:
    """page.html and the analytics-next bundles (its npm package's dist/umd), nothing else."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/page.html":
            return web.FileResponse(SDK_DIR / "page.html")
        name = request.path.removeprefix("/analytics-next/bundles/")
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
        server, origin = await _serve_on(_page_server(dist), host="127.0.0.2")
        try:
            url = f"{origin}/page.html?writeKey=dev&apiHost={api_host}&device={device}"
            return await _run(node, "browser_send.mjs", url, timeout_s=90)
        finally:
            await server.cleanup()

    log = orjson.loads(runner.run(browse()).strip().splitlines()[-1])
    assert not [e for e in log if e["event"] in ("pageerror", "failed")], log
    # Nothing went to the collector while the page was shown: the batch waited for the hide.
    leaving = log.index({"event": "leaving"})
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
