"""``python -m collector`` as it runs in production: two workers on one port, SIGTERM under load.

Every event of every 2xx answer must be in Kafka afterwards; the process must exit on its own,
cleanly, within its grace period.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
from aiohttp import ClientError, ClientSession, ClientTimeout

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GRACE_S = 10


def _start(port: int, bootstrap: str, log_path: Path) -> subprocess.Popen:
    env = os.environ | {
        "SURGE_COLLECTOR_PORT": str(port),
        "SURGE_COLLECTOR_WORKERS": "2",
        "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": bootstrap,
        "SURGE_COLLECTOR_SHUTDOWN_GRACE_S": str(GRACE_S),
        "SURGE_COLLECTOR_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "collector"], cwd=REPO, env=env, stdout=log, stderr=log
        )


async def _wait_ready(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 40
    ready_in_a_row = 0
    async with ClientSession(timeout=ClientTimeout(total=2)) as session:
        while ready_in_a_row < 10:  # several answers: both workers are likely up
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            try:
                async with session.get(url + "/readyz") as response:
                    ready_in_a_row = ready_in_a_row + 1 if response.status == 200 else 0
            except ClientError:
                ready_in_a_row = 0
            await asyncio.sleep(0.1)


async def _load(url: str, stop: asyncio.Event, make_event) -> list[tuple[int, list[str]]]:
    """Concurrent senders, each with its own connection: (status, event ids) per request;
    status 0 when the connection failed."""
    results: list[tuple[int, list[str]]] = []

    async def sender(n: int) -> None:
        async with ClientSession(timeout=ClientTimeout(total=20)) as session:
            while not stop.is_set():
                events = [make_event(device_id=f"d_sigterm_{n}") for _ in range(10)]
                ids = [e["event_id"] for e in events]
                try:
                    async with session.post(
                        url + "/v1/batch",
                        data=orjson.dumps({"events": events}),
                        headers={"Content-Type": "application/json", "X-Write-Key": "dev"},
                    ) as response:
                        await response.read()
                        results.append((response.status, ids))
                except (TimeoutError, ClientError):
                    results.append((0, ids))
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(sender(n) for n in range(16)))
    return results


def test_sigterm_under_load_acknowledges_nothing_that_is_not_in_kafka(
    stack, kafka, free_port, make_event, tmp_path
):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "collector.log"
    proc = _start(port, stack.kafka_bootstrap, log_path)
    try:
        asyncio.run(_wait_ready(url, proc, log_path))
        since = asyncio.run(kafka.end_offsets("surge.events"))

        async def scenario():
            stop = asyncio.Event()
            load = asyncio.create_task(_load(url, stop, make_event))
            await asyncio.sleep(1.5)
            proc.send_signal(signal.SIGTERM)
            terminated = time.monotonic()
            while proc.poll() is None and time.monotonic() - terminated < GRACE_S + 15:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)  # the senders see the port closed
            stop.set()
            return await load, time.monotonic() - terminated

        results, shutdown_s = asyncio.run(scenario())
        assert proc.poll() == 0, log_path.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    acknowledged = {i for status, ids in results if 200 <= status < 300 for i in ids}
    statuses = {status for status, _ in results}
    assert len(acknowledged) >= 200, f"too little load to mean anything: {statuses}"
    assert statuses <= {0, 200, 503}, statuses
    assert shutdown_s < GRACE_S + 10

    found = asyncio.run(
        kafka.read_since(since, lambda v: v.get("event_id") in acknowledged, len(acknowledged))
    )
    missing = acknowledged - {value["event_id"] for _, value in found}
    assert not missing, f"{len(missing)} acknowledged events are not in Kafka"
    assert uuid.UUID(next(iter(acknowledged)))
