"""Benchmark of the lander (not a test): land a pre-filled topic with one lander process.

    python bench/bench_lander.py --events 5000000      # the issue's size; default
    python bench/bench_lander.py --events 200000       # a short run
    python bench/bench_lander.py --events 1000000 --fill-only        # prints the topic
    python bench/bench_lander.py --topic bench-lander-1a2b3c4d       # land it (again)
    python bench/bench_lander.py --topic bench-lander-1a2b3c4d --read-only  # Kafka alone

Uses the running stack (infra/provider.py: SURGE_* variables, or the local addresses). Fills
a fresh topic (not timed) with N enriched events as the collector writes them: shoppers'
journeys from the shared generator (loadgen), RFC 3339 server times with milliseconds,
batches compressed with the collector's default codec (lz4). Then runs one Lander
in this process with its default rotation; once every record is read it stops the lander as
SIGTERM would, which publishes the rest. Reports events/s from the first record read to the
last file published, with the file count and sizes, where the lander's time went, and the
load average (the machine is shared: figures move with it), and the CPU per event of the
lander, the broker and the HDFS daemons: their sum bounds what this machine can land at all
(bench/stack_cpu.py). `--read-only` reads the topic with the lander's consumer settings and
does nothing else: the ceiling Kafka and aiokafka set. The files are deleted afterwards
unless --keep; a topic filled here is deleted too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from stack_cpu import DATANODE, KAFKA, NAMENODE, CpuMeter, describe, stack_jvms

import loadgen
import loadgen.shop
from collector.records import event_record
from collector.settings import CollectorSettings
from infra.endpoints import Endpoints
from infra.provider import provide_stack
from stream.consumer import Lander
from stream.settings import LanderSettings

COLLECTOR_CODEC = CollectorSettings.model_fields["compression"].default

# -- events as the collector writes them ---------------------------------------------------------

BASE_MS = 1_794_326_400_000  # 2026-11-10T16:00:00Z: midnight in Shanghai, Double 11 starts
USER_AGENTS = {p.name: p.user_agent for p in loadgen.shop.PLATFORMS}


class EventMaker:
    """Enriched events of a flash sale: the shared journeys (loadgen) with the fields the
    collector adds. `value(i)` is the i-th of `count` (called in order), received over `hours`
    in order, 1% of them late (sent from an app's offline queue)."""

    def __init__(self, count: int, hours: float = 2.0, seed: int = 7):
        self.rnd = random.Random(seed)
        self.count, self.span_ms = count, int(hours * 3_600_000)
        self.events = loadgen.events(seed=seed, start_ms=BASE_MS)

    def value(self, i: int) -> tuple[bytes, bytes]:
        """(key, value) of the i-th event, as the collector produces it."""
        return event_record(self.event(i))

    def event(self, i: int) -> dict[str, Any]:
        rnd = self.rnd
        received = BASE_MS + self.span_ms * i // self.count
        happened = received - rnd.randrange(50, 4000)
        if rnd.random() < 0.01:
            happened -= rnd.randrange(60_000, 5_400_000)
        event = next(self.events)
        event.update(
            event_time=_rfc3339(happened),
            received_at=_rfc3339(received),
            ip=f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.0",
            user_agent=USER_AGENTS[event["context"]["platform"]],
            app_id="shop-cn",
            schema_version=1,
        )
        return event


def _rfc3339(ms: int, offset: str = "Z") -> str:
    """As collector/enrich.py formats times ("2026-11-10T16:00:03.120Z"), or client-side."""
    shift = 8 * 3_600_000 if offset == "+08:00" else 0
    seconds, millis = divmod(ms + shift, 1000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{millis:03d}{offset}"


# -- the runs ------------------------------------------------------------------------------------


async def fill(
    endpoints: Endpoints, topic: str, partitions: int, n: int, hours: float, compression: str
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    maker = EventMaker(n, hours)
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type=None if compression == "none" else compression,
        linger_ms=20,
        max_batch_size=256 * 1024,  # the collector's batch
    )
    await producer.start()
    started = time.monotonic()
    size = 0
    try:
        pending = []
        for i in range(n):
            key, value = maker.value(i)
            size += len(value)
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    print(
        f"filled {topic}: {n} events ({size / max(1, n):.0f} bytes each on average, "
        f"{compression}) in {time.monotonic() - started:.1f} s",
        flush=True,
    )


async def end_offsets(endpoints: Endpoints, topic: str) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=endpoints.kafka_bootstrap)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def land(settings: LanderSettings, ends: dict, timeout_s: float) -> Lander:
    lander = Lander(settings)
    task = asyncio.create_task(lander.run())
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not task.done():
        if all(_read_through(lander, tp) >= end for tp, end in ends.items()):
            break
        await asyncio.sleep(0.1)
    lander.stop()  # publishes what is buffered, as on SIGTERM: the last publish is timed
    await task
    return lander


def _read_through(lander: Lander, tp: TopicPartition) -> int:
    writer = lander.writers.get(tp)
    return -1 if writer is None or writer.expected is None else writer.expected


async def read_only(settings: LanderSettings, ends: dict) -> None:
    """Read the topic as the lander does (same consumer settings), touching each value."""
    consumer = AIOKafkaConsumer(
        settings.topic,
        bootstrap_servers=settings.bootstrap,
        group_id=settings.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=settings.fetch_partition_bytes,
    )
    await consumer.start()
    total, size, first = sum(ends.values()), 0, None
    read = 0
    cpu = time.process_time()
    try:
        while read < total:
            batch = await consumer.getmany(timeout_ms=500, max_records=settings.max_poll_records)
            for records in batch.values():
                if first is None:
                    first = time.monotonic()
                read += len(records)
                size += sum(len(r.value) for r in records)
    finally:
        await consumer.stop()
    seconds = time.monotonic() - (first or time.monotonic())
    cpu = time.process_time() - cpu
    print(
        f"read only: {read} records ({size / 2**20:.0f} MiB of values) in {seconds:.1f} s: "
        f"{read / max(seconds, 1e-9):,.0f} records/s; {cpu / max(read, 1) * 1e6:.1f} µs CPU each"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--hours", type=float, default=2.0, help="event time span of the topic")
    parser.add_argument(
        "--compression", default=COLLECTOR_CODEC, help="producer codec (the collector's default)"
    )
    parser.add_argument("--topic", help="land this already filled topic (not deleted)")
    parser.add_argument("--fill-only", action="store_true", help="fill a topic and stop")
    parser.add_argument("--read-only", action="store_true", help="only read the topic")
    parser.add_argument("--timeout", type=float, default=3600, help="give up after (s)")
    parser.add_argument("--keep", action="store_true", help="keep the topic and its files")
    parser.add_argument("--storage-url", help="default: the stack's WebHDFS")
    args = parser.parse_args()

    with provide_stack() as endpoints:
        topic = args.topic or f"bench-lander-{uuid.uuid4().hex[:8]}"
        if not args.topic:
            asyncio.run(
                fill(endpoints, topic, args.partitions, args.events, args.hours, args.compression)
            )
        if args.fill_only:
            print(f"topic: {topic}")
            return 0
        ends = asyncio.run(end_offsets(endpoints, topic))
        run = f"{topic}-{uuid.uuid4().hex[:6]}"  # a fresh group and folder per run
        root = f"/surge/bench/{run}/events"
        settings = LanderSettings(
            bootstrap=endpoints.kafka_bootstrap,
            group=run,
            topic=topic,
            dlq_topic=f"{topic}.dlq",
            storage_url=args.storage_url or endpoints.webhdfs_url,
            hdfs_user=endpoints.hdfs_user,
            root=root,
            metrics_port=0,
        )
        print(f"load average before: {_load()}", flush=True)
        meter = CpuMeter(
            {
                "lander" if not args.read_only else "reader": [psutil.Process()],
                "kafka": stack_jvms(KAFKA),
                "hdfs": stack_jvms(NAMENODE, DATANODE),
            }
        )
        meter.start()
        if args.read_only:
            asyncio.run(read_only(settings, ends))
            print(f"load average after: {_load()}")
            print(describe(meter.per_event(sum(ends.values()))))
            return 0
        cpu = time.process_time()
        lander = asyncio.run(land(settings, ends, args.timeout))
        report(lander, sum(ends.values()), time.process_time() - cpu)
        print(describe(meter.per_event(lander.progress.rows_published)))
        if not args.keep:
            lander.storage.delete(root.rsplit("/", 1)[0], recursive=True)
            if not args.topic:
                asyncio.run(_delete_topic(endpoints, topic))
    return 0


async def _delete_topic(endpoints: Endpoints, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic, f"{topic}.dlq"])
    finally:
        await admin.close()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} cores)"


def report(lander: Lander, events: int, cpu_s: float) -> None:
    p = lander.progress
    seconds = (p.last_published_at or 0) - (p.first_read_at or 0)
    sizes = sorted(p.file_sizes)
    mib = 1024 * 1024
    print(f"landed {p.rows_published} of {events} events in {seconds:.1f} s", flush=True)
    if seconds > 0:
        rate = p.rows_published / seconds
        print(f"throughput: {rate:,.0f} events/s (first read -> last publish)")
    print(f"load average after: {_load()}; process CPU {cpu_s:.1f} s")
    if hasattr(p, "add_seconds"):  # where the loop's time went (the lander of this tree)
        print(
            f"in writer.add (decode + buffer) {p.add_seconds:.1f} s, finishing publishes (log, "
            f"renames; the loop waits) {p.publish_seconds:.1f} s, of {seconds:.1f} s; "
            f"preparing them in the background (Parquet, temp files) {p.prepare_seconds:.1f} s"
        )
    samples_of = lander.metrics.registry.get_sample_value
    publishes = samples_of("surge_lander_publish_seconds_count") or 0
    if publishes:
        mean = samples_of("surge_lander_publish_seconds_sum") / publishes
        print(f"publishes: {publishes:.0f}, mean {mean:.2f} s from freeze to last rename")
    native = samples_of("surge_lander_records_decoded_total", {"path": "native"}) or 0
    reference = samples_of("surge_lander_records_decoded_total", {"path": "reference"}) or 0
    if native or reference:
        print(f"decoded: {native:,.0f} records natively, {reference:,.0f} event by event")
    if sizes:
        print(
            f"files: {len(sizes)}, {sum(sizes) / mib:.1f} MiB in all; size min "
            f"{sizes[0] / mib:.2f} MiB, median {statistics.median(sizes) / mib:.2f} MiB, max "
            f"{sizes[-1] / mib:.2f} MiB; {sum(sizes) / max(1, p.rows_published):.1f} bytes/event"
        )
        big = [size for size in sizes if size >= mib]
        print(
            f"files of 1 MiB or more: {len(big)}, {sum(big) / max(1, sum(sizes)):.0%} of the "
            f"bytes (the small ones hold the hours of late events)"
        )


if __name__ == "__main__":
    sys.exit(main())
