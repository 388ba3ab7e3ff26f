"""A short flash sale against a real collector (``python -m collector``) on the stack's Kafka:
every id the generator counts as acked is in surge.events, and only the invalid ones are not."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from loadgen import FlashSale, LoadConfig, run
from schemas.validator import EventValidator

pytestmark = pytest.mark.integration
TOPIC = "surge.events"


@pytest.fixture
def collector_url(stack) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {
        "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "SURGE_COLLECTOR_PORT": str(port),
        "SURGE_COLLECTOR_WORKERS": "1",
        "SURGE_COLLECTOR_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "collector"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, "the collector exited"
                assert time.monotonic() < deadline, "the collector did not get ready"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([TOPIC])
    finally:
        await admin.close()
    partitions = [TopicPartition(TOPIC, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def _ids_since(bootstrap: str, since: dict, wanted: set[str], timeout_s: float) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: set[str] = set()
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while not wanted <= found and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.update(orjson.loads(r.value)["event_id"] for r in records)
    finally:
        await consumer.stop()
    return found


def test_a_flash_sale_against_the_collector_reconciles_with_kafka(stack, collector_url):
    before = asyncio.run(_end_offsets(stack.kafka_bootstrap))
    config = LoadConfig(
        url=collector_url,
        profile=FlashSale(
            base_events_per_s=200, peak_factor=5, sale_start_s=1, half_life_s=1, duration_s=4
        ),
        invalid_event_share=0.02,
        progress=False,
    )
    results = run(config)
    d = results.as_dict()
    assert d["requests"]["by_status"] == {"200": d["requests"]["offered"]}
    assert d["requests"]["unfinished"] == 0
    # The events answered as rejected are exactly the ones spoiled on purpose.
    validator = EventValidator.load()
    sent = [orjson.loads(b.body)["events"] for b in results.batches]
    invalid = {e["event_id"] for batch in sent for e in batch if validator.validate(e)}
    acked = set(results.acked_ids())
    assert invalid and d["events"]["rejected"] == len(invalid)
    assert acked == {e["event_id"] for batch in sent for e in batch} - invalid
    # Nothing a client was told was accepted is missing from Kafka.
    in_kafka = asyncio.run(_ids_since(stack.kafka_bootstrap, before, acked, timeout_s=30))
    assert acked <= in_kafka
