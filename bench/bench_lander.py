"""Benchmark of the lander (not a test): land a pre-filled topic with one lander process.

    python bench/bench_lander.py --events 5000000      # the issue's size; default
    python bench/bench_lander.py --events 200000       # a short run

Uses the running stack (infra/provider.py: SURGE_* variables, or the local addresses). Fills
a fresh topic with N enriched sample events (not timed), then runs one Lander in this process
with its default rotation; once every record is read it stops the lander as SIGTERM would,
which publishes the rest. Reports events/s from the first record read to the last file
published, with the file count and sizes. The topic and its files are deleted afterwards
unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.endpoints import Endpoints
from infra.provider import provide_stack
from stream import samples
from stream.consumer import Lander
from stream.settings import LanderSettings

TEMPLATES = 2000  # distinct sample events; each copy gets its own event_id


async def fill(endpoints: Endpoints, topic: str, partitions: int, n: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1), NewTopic(f"{topic}.dlq", 1, 1)])
    finally:
        await admin.close()
    templates = []
    for i in range(TEMPLATES):
        event_id, key, value = samples.event_bytes(i)
        templates.append((event_id.encode(), key, value))
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    started = time.monotonic()
    try:
        pending = []
        for i in range(n):
            event_id, key, value = templates[i % TEMPLATES]
            unique = f"{i:012x}".encode()  # the last 12 hex digits of the uuid: unique per event
            value = value.replace(event_id, event_id[:-12] + unique)
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    print(f"filled {topic}: {n} events in {time.monotonic() - started:.1f} s", flush=True)


async def end_offsets(endpoints: Endpoints, topic: str, partitions: int) -> dict:
    consumer = AIOKafkaConsumer(bootstrap_servers=endpoints.kafka_bootstrap)
    await consumer.start()
    try:
        return await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=3600, help="give up after (s)")
    parser.add_argument("--keep", action="store_true", help="keep the topic's files")
    parser.add_argument("--storage-url", help="default: the stack's WebHDFS")
    args = parser.parse_args()

    with provide_stack() as endpoints:
        topic = f"bench-lander-{uuid.uuid4().hex[:8]}"
        root = f"/surge/bench/{topic}/events"
        asyncio.run(fill(endpoints, topic, args.partitions, args.events))
        ends = asyncio.run(end_offsets(endpoints, topic, args.partitions))
        settings = LanderSettings(
            bootstrap=endpoints.kafka_bootstrap,
            group=topic,
            topic=topic,
            dlq_topic=f"{topic}.dlq",
            storage_url=args.storage_url or endpoints.webhdfs_url,
            hdfs_user=endpoints.hdfs_user,
            root=root,
            metrics_port=0,
        )
        lander = asyncio.run(land(settings, ends, args.timeout))
        report(lander, args.events)
        if not args.keep:
            lander.storage.delete(root.rsplit("/", 1)[0], recursive=True)
    return 0


def report(lander: Lander, events: int) -> None:
    p = lander.progress
    seconds = (p.last_published_at or 0) - (p.first_read_at or 0)
    sizes = sorted(p.file_sizes)
    mib = 1024 * 1024
    print(f"landed {p.rows_published} of {events} events in {seconds:.1f} s", flush=True)
    if seconds > 0:
        rate = p.rows_published / seconds
        print(f"throughput: {rate:,.0f} events/s (first read -> last publish)")
    samples_of = lander.metrics.registry.get_sample_value
    publishes = samples_of("surge_lander_publish_seconds_count") or 0
    if publishes:
        mean = samples_of("surge_lander_publish_seconds_sum") / publishes
        print(f"publishes: {publishes:.0f}, mean {mean:.2f} s from freeze to last rename")
    if sizes:
        print(
            f"files: {len(sizes)}, {sum(sizes) / mib:.1f} MiB in all; size min "
            f"{sizes[0] / mib:.2f} MiB, median {statistics.median(sizes) / mib:.2f} MiB, max "
            f"{sizes[-1] / mib:.2f} MiB; {sum(sizes) / max(1, p.rows_published):.1f} bytes/event"
        )


if __name__ == "__main__":
    sys.exit(main())
