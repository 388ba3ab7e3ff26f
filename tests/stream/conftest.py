"""Fixtures of the lander's integration tests: a throwaway topic, root and group per test.

`lander_run` gives a `Run`: it creates the topics, produces sample events, starts and stops
`python -m stream` processes, and checks what landed on HDFS against the topic's contents.
Helpers are fixtures (not an imported module) so that they work under any pytest import mode.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.endpoints import Endpoints
from stream.landed import landed_files
from stream.storage import HdfsStorage
from tests.stream import samples

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class InTopic:
    partition: int
    offset: int
    bucket: tuple[str, str]


@dataclass
class Run:
    stack: Endpoints
    tmp: Path
    partitions: int = 3
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    processes: list[subprocess.Popen] = field(default_factory=list)
    produced: int = 0

    def __post_init__(self) -> None:
        self.topic = f"lander-test-{self.uid}"
        self.dlq_topic = f"{self.topic}.dlq"
        self.root = f"/surge/lander-tests/{self.uid}/events"
        self.group = f"lander-test-{self.uid}"
        self.storage = HdfsStorage(self.stack.webhdfs_url, self.stack.hdfs_user)
        asyncio.run(self._create_topics())

    async def _create_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.stack.kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(self.topic, self.partitions, 1), NewTopic(self.dlq_topic, 1, 1)]
            )
        finally:
            await admin.close()

    # -- producing ---------------------------------------------------------------------------

    def produce(self, n: int, bad: dict[int, bytes | None] | None = None) -> None:
        """n sample events (numbered on from the last call); `bad`: values to send instead."""
        values = []
        for i in range(self.produced, self.produced + n):
            _, key, value = samples.event_bytes(i)
            values.append((key, (bad or {}).get(i - self.produced, value)))
        self.produced += n
        asyncio.run(self._send(values))

    def produce_slowly(self, n: int, seconds: float) -> threading.Thread:
        """Produce n events spread over `seconds`, in a thread; join() it."""
        per_batch = max(1, n // max(1, int(seconds * 5)))

        def work() -> None:
            left = n
            while left > 0:
                batch = min(per_batch, left)
                self.produce(batch)
                left -= batch
                time.sleep(0.2)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        return thread

    async def _send(self, values: list[tuple[bytes, bytes | None]]) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.stack.kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            futures = [await producer.send(self.topic, v, key=k) for k, v in values]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    # -- the lander --------------------------------------------------------------------------

    def settings_env(self, **overrides: object) -> dict[str, str]:
        settings = {
            "bootstrap": self.stack.kafka_bootstrap,
            "group": self.group,
            "topic": self.topic,
            "dlq_topic": self.dlq_topic,
            "storage_url": self.stack.webhdfs_url,
            "hdfs_user": self.stack.hdfs_user,
            "root": self.root,
            "rotate_rows": 300,
            "rotate_age_s": 1.0,
            "session_timeout_ms": 6000,
            "max_poll_records": 200,
            "backoff_initial_s": 0.2,
            "backoff_max_s": 2.0,
            "storage_timeout_s": 5.0,
            "metrics_port": 0,
            **overrides,
        }
        return {f"SURGE_LANDER_{k.upper()}": str(v) for k, v in settings.items()}

    def start(self, crash_at: str = "", **overrides: object) -> subprocess.Popen:
        """A lander process; `crash_at` ("point[:n]"): one SIGKILLed at that fault point."""
        n = len(self.processes)
        log = (self.tmp / f"lander-{n}.log").open("wb")
        env = {**os.environ, **self.settings_env(**overrides)}
        module = ["tests.stream.crash_lander", crash_at] if crash_at else ["stream"]
        proc = subprocess.Popen(
            [sys.executable, "-m", *module], cwd=REPO, env=env, stdout=log, stderr=log
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.processes.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 60) -> int:
        """SIGTERM, then the exit code (which must come within `timeout`)."""
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def log(self, proc: subprocess.Popen) -> str:
        return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]

    def kill_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    # -- checking ----------------------------------------------------------------------------

    def topic_contents(self) -> dict[str, InTopic]:
        """event_id -> where it is in the topic, read back from Kafka (good records only)."""
        return asyncio.run(self._read_topic())

    async def _read_topic(self) -> dict[str, InTopic]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.stack.kafka_bootstrap, enable_auto_commit=False
        )
        await consumer.start()
        found: dict[str, InTopic] = {}
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                    for r in records:
                        try:
                            event = orjson.loads(r.value)
                            bucket = samples.bucket_of(event)
                        except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
                            continue
                        found[event["event_id"]] = InTopic(tp.partition, r.offset, bucket)
        finally:
            await consumer.stop()
        return found

    def landed(self) -> list[dict]:
        """Every landed row: event_id, with its file's name and folder."""
        rows = []
        for file in landed_files(self.storage, self.root, self.topic):
            table = pq.read_table(io.BytesIO(self.storage.read(file.path)), columns=["event_id"])
            for event_id in table.column("event_id").to_pylist():
                rows.append({"event_id": event_id, "file": file})
        return rows

    def wait_landed(self, count: int, timeout: float = 90, procs=()) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.landed()) >= count:
                return
            for proc in procs:
                assert proc.poll() is None, f"lander exited:\n{self.log(proc)[-3000:]}"
            time.sleep(0.5)
        raise AssertionError(f"only {len(self.landed())} of {count} rows landed in {timeout} s")

    def assert_no_duplicates(self) -> None:
        ids = [row["event_id"] for row in self.landed()]
        assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} rows landed twice"

    def assert_exactly_once(self) -> dict[str, InTopic]:
        """Every event of the topic in exactly one file, whose name and folder match it."""
        topic = self.topic_contents()
        rows = self.landed()
        ids = [row["event_id"] for row in rows]
        assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} rows landed twice"
        assert set(ids) == set(topic), f"{len(set(topic) - set(ids))} events never landed"
        by_file: dict[str, list[int]] = {}
        for row in rows:
            where, file = topic[row["event_id"]], row["file"]
            assert file.name.partition == where.partition
            assert (file.bucket.dt, file.bucket.hr) == where.bucket
            by_file.setdefault(file.path, []).append(where.offset)
        for file in landed_files(self.storage, self.root, self.topic):
            offsets = by_file[file.path]
            assert (min(offsets), max(offsets)) == (file.name.first, file.name.last), file.path
        return topic

    def dlq_records(self, expected: int, timeout: float = 30) -> list[dict]:
        return asyncio.run(self._read_dlq(expected, timeout))

    async def _read_dlq(self, expected: int, timeout: float) -> list[dict]:
        consumer = AIOKafkaConsumer(
            self.dlq_topic,
            bootstrap_servers=self.stack.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: list[dict] = []
        deadline = time.monotonic() + timeout
        try:
            while len(found) < expected and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found += [orjson.loads(r.value) for r in records]
        finally:
            await consumer.stop()
        return found


@pytest.fixture
def lander_run(stack: Endpoints, tmp_path: Path) -> Iterator[Run]:
    run = Run(stack, tmp_path)
    try:
        yield run
    finally:
        run.kill_all()
        run.storage.delete(run.root.rsplit("/", 1)[0], recursive=True)
