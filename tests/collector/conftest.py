"""Fixtures of the collector tests: events, an in-memory sink, a served app, reading Kafka back.

Helpers are fixtures; the in-memory sink is in doubles.py.
pytest-asyncio is not a dependency: a module-scoped ``asyncio.Runner`` drives the server, the
client and Kafka consumers; each ``Served`` call runs the loop until its request is answered.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, ClientTimeout, web
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from collector.app import create_app, runner_kwargs
from collector.settings import CollectorSettings
from collector.sink import Sink
from collector.worker import listen
from tests.collector.doubles import MemorySink

REPO = Path(__file__).resolve().parents[2]

TS = "2026-11-11T00:00:03.120+08:00"


def _event(kind: str = "page_view", **fields: Any) -> dict[str, Any]:
    """A valid event of the catalogue, with a fresh event_id; ``fields`` override."""
    base: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "ts": TS,
        "device_id": "d_7f3c2a9e",
        "page": {"url": "https://shop.example.com/", "referrer": None, "title": "Home"},
        "context": {"platform": "web", "app_version": "1.4.2", "locale": "zh-CN"},
    }
    properties = {
        "page_view": None,
        "add_to_cart": {"sku": "LIP-0042", "category": "lipstick", "price": 199.0, "quantity": 1},
        "order_placed": {
            "order_id": "SO-1",
            "items": [{"sku": "LIP-0042", "category": "lipstick", "price": 199.0, "quantity": 1}],
            "amount": 199.0,
            "currency": "CNY",
        },
    }[kind]
    if properties is not None:
        base["properties"] = properties
    base.update(fields)
    return base


def _settings(**overrides: Any) -> CollectorSettings:
    """Test settings: one worker's share of everything, the local `dev` key."""
    defaults: dict[str, Any] = {"workers": 1, "port": 0, "health_interval_s": 0.25}
    return CollectorSettings(**(defaults | overrides))


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    elapsed_s: float


class Served:
    """A collector app on a real port, on the loop of ``runner``."""

    def __init__(self, runner: asyncio.Runner, app_settings: CollectorSettings, sink: Sink | None):
        self.runner = runner
        self.settings = app_settings
        self.app = create_app(app_settings, sink=sink)
        # Served as the worker serves it: an AppRunner behind the worker's listening socket.
        self.server = web.AppRunner(self.app, **runner_kwargs(app_settings))
        runner.run(self.server.setup())
        self.listening = runner.run(listen(self.server, app_settings))
        self.session: ClientSession = runner.run(_session())
        self.port = self.listening.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = "dev",
        gzipped: bool = False,
    ) -> Answer:
        return self.runner.run(
            self.arequest(
                method, path, json=json, data=data, headers=headers, key=key, gzipped=gzipped
            )
        )

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, key=None, **kwargs)

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = "dev",
        gzipped: bool = False,
    ) -> Answer:
        sent = {"Content-Type": "application/json"}
        if key is not None:
            sent["X-Write-Key"] = key
        if json is not None:
            data = orjson.dumps(json)
        if gzipped:
            data = gzip.compress(data or b"")
            sent["Content-Encoding"] = "gzip"
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v is not None}
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with self.session.request(
            method, self.url + path, data=data, headers=sent, skip_auto_headers=["Content-Type"]
        ) as response:
            raw = await response.read()
            elapsed = loop.time() - started
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = raw.decode()
            return Answer(response.status, body, dict(response.headers), elapsed)

    def close(self) -> None:
        self.runner.run(self.session.close())
        self.listening.close()
        self.runner.run(self.server.cleanup())


async def _session() -> ClientSession:
    return ClientSession(timeout=ClientTimeout(total=30))


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop_runner:
        yield loop_runner


@pytest.fixture(scope="module")
def serve(runner: asyncio.Runner) -> Iterator[Callable[..., Served]]:
    """serve(settings, sink=None) -> Served; all closed at the end of the module."""
    started: list[Served] = []

    def start(app_settings: CollectorSettings, sink: Sink | None = None) -> Served:
        served = Served(runner, app_settings, sink)
        started.append(served)
        return served

    yield start
    for served in reversed(started):
        served.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """make_event("add_to_cart", device_id="d_1"): a valid event with a fresh event_id."""
    return _event


@pytest.fixture(scope="session")
def make_sink() -> Callable[[], MemorySink]:
    """make_sink(): a fresh in-memory sink (``events``, ``dead``, ``fail``, ``delay_s``)."""
    return MemorySink


@pytest.fixture
def make_settings() -> Callable[..., CollectorSettings]:
    """make_settings(max_body_bytes=...): settings of one worker on port 0, key `dev`."""
    return _settings


@pytest.fixture
def free_port() -> Callable[[], int]:
    return _free_port


@pytest.fixture
def spawn_collector(tmp_path: Path) -> Iterator[Callable[[int], tuple[subprocess.Popen, Path]]]:
    """spawn_collector(port) -> (process, its log): ``python -m collector`` as deployed, two
    workers, its Kafka unreachable (nobody listens): for what needs no broker. Ended after."""
    started: list[subprocess.Popen] = []

    def spawn(port: int) -> tuple[subprocess.Popen, Path]:
        env = os.environ | {
            "SURGE_COLLECTOR_PORT": str(port),
            "SURGE_COLLECTOR_WORKERS": "2",
            "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": f"127.0.0.1:{_free_port()}",
            "SURGE_COLLECTOR_LOG_LEVEL": "WARNING",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log_path = tmp_path / f"collector-{len(started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "collector"], cwd=REPO, env=env, stdout=log, stderr=log
            )
        started.append(proc)
        return proc, log_path

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


class KafkaReader:
    """Reads back what the collector produced: note the end offsets, post, read after them."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap

    async def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        return await _end_offsets(self.bootstrap, topic)

    async def read_since(
        self,
        since: dict[TopicPartition, int],
        keep: Callable[[dict[str, Any]], bool],
        expected: int,
        timeout_s: float = 20.0,
    ) -> list[tuple[bytes | None, dict[str, Any]]]:
        return await _read_since(self.bootstrap, since, keep, expected, timeout_s)


@pytest.fixture(scope="module")
def kafka(stack) -> KafkaReader:
    return KafkaReader(stack.kafka_bootstrap)


# --- Kafka, read back


async def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def _read_since(
    bootstrap: str,
    since: dict[TopicPartition, int],
    keep: Callable[[dict[str, Any]], bool],
    expected: int,
    timeout_s: float = 20.0,
) -> list[tuple[bytes | None, dict[str, Any]]]:
    """(key, value) of the records after ``since`` that ``keep`` selects, until ``expected``
    of them are found or everything up to the current end was read."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[bytes | None, dict[str, Any]]] = []
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        deadline = asyncio.get_running_loop().time() + timeout_s
        ends = await consumer.end_offsets(list(since))
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    value = orjson.loads(record.value)
                    if keep(value):
                        found.append((record.key, value))
            if len(found) >= expected:
                break
            positions = {tp: await consumer.position(tp) for tp in since}
            if all(positions[tp] >= ends[tp] for tp in since):
                ends = await consumer.end_offsets(list(since))
                if all(positions[tp] >= ends[tp] for tp in since):
                    break
    finally:
        await consumer.stop()
    return found
