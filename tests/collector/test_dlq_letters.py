"""The DLQ letters of both stages, read back from the real Kafka topic: the collector's (events
of an accepted request that fail their checks) and the real lander's (``python -m stream``:
records of its topic that cannot be rows) have the same fields, and no write key anywhere."""

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
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from collector.settings import CollectorSettings, WriteKey
from schemas.dlq import FIELDS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_both_stages_write_the_same_letter_without_the_write_key(
    serve, stack, runner, make_event, tmp_path
):
    uid = uuid.uuid4().hex[:10]
    source, dlq = f"dlq-test-{uid}", f"dlq-test-{uid}.dlq"
    secret = f"wk_secret_{uid}"  # the write key: it must be in no letter
    bootstrap = stack.kafka_bootstrap
    runner.run(_create_topics(bootstrap, source, dlq))

    # The collector: three bad events of an accepted batch, the key in the header and in one.
    served = serve(
        CollectorSettings(
            workers=1,
            port=0,
            kafka_bootstrap=bootstrap,
            health_interval_s=0.25,
            dlq_topic=dlq,
            write_keys={secret: WriteKey(app_id="dlq-test")},
        )
    )
    deadline = time.monotonic() + 30
    while served.get("/readyz").status != 200:
        assert time.monotonic() < deadline, "the collector never got ready"
        time.sleep(0.2)
    bad = [
        make_event(ts="yesterday", write_key=secret),
        make_event(type="teleport"),
        "not an event",
    ]
    answer = served.post("/v1/batch", json={"events": [make_event(), *bad]}, key=secret)
    assert answer.status == 200 and answer.body["accepted"] == 1

    # The lander: records it cannot land, one of them carrying a write key.
    values = [
        b"not json",
        orjson.dumps({"type": "page_view", "app_id": "dlq-test", "write_key": secret}),
        None,
    ]
    runner.run(_produce(bootstrap, source, values))
    lander = _start_lander(bootstrap, source, dlq, uid, tmp_path)
    try:
        records = runner.run(_read_all(bootstrap, dlq, expected=len(bad) + len(values)))
    finally:
        lander.send_signal(signal.SIGTERM)
        assert lander.wait(60) == 0, (tmp_path / "lander.log").read_text()[-3000:]

    letters = [orjson.loads(value) for _, value in records]
    assert sorted(letter["stage"] for letter in letters) == ["collector"] * 3 + ["lander"] * 3
    assert all(list(letter) == list(FIELDS) for letter in letters)
    by_stage = {
        stage: sorted(letter["reason"] for letter in letters if letter["stage"] == stage)
        for stage in ("collector", "lander")
    }
    assert by_stage == {
        "collector": ["not_an_object", "schema", "unknown_type"],
        "lander": ["empty", "missing_field", "not_json"],
    }
    assert {letter["app_id"] for letter in letters if letter["raw"] is not None} == {"dlq-test"}
    for key, value in records:
        assert secret.encode() not in value and b"write_key" not in value
        assert key is None or secret.encode() not in key


async def _create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, values: list[bytes | None]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, v, key=b"d_1") for v in values])
    finally:
        await producer.stop()


def _start_lander(bootstrap: str, topic: str, dlq: str, uid: str, tmp: Path):
    settings = {
        "bootstrap": bootstrap,
        "group": f"dlq-test-{uid}",
        "topic": topic,
        "dlq_topic": dlq,
        "storage_url": (tmp / "landed").as_uri(),
        "root": "/events",
        "metrics_port": 0,
        "rotate_age_s": 1.0,
    }
    env = os.environ | {f"SURGE_LANDER_{k.upper()}": str(v) for k, v in settings.items()}
    with (tmp / "lander.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "stream"], cwd=REPO, env=env, stdout=log, stderr=log
        )


async def _read_all(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 60
) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of every record of the topic, once ``expected`` of them are there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[bytes | None, bytes]] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + timeout_s
        while len(found) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [(r.key, r.value) for r in records]
    finally:
        await consumer.stop()
    assert len(found) == expected, f"{len(found)} letters of {expected} after {timeout_s} s"
    return found
