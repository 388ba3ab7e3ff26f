"""Benchmark of the lander (not a test): land a pre-filled topic with one lander process.

    python bench/bench_lander.py --events 5000000      # the issue's size; default
    python bench/bench_lander.py --events 200000       # a short run
    python bench/bench_lander.py --events 1000000 --fill-only        # prints the topic
    python bench/bench_lander.py --topic bench-lander-1a2b3c4d       # land it (again)
    python bench/bench_lander.py --topic bench-lander-1a2b3c4d --read-only  # Kafka alone

Uses the running stack (infra/provider.py: SURGE_* variables, or the local addresses). Fills
a fresh topic (not timed) with N enriched events as the collector writes them: a flash-sale
mix of types, every id, url, price and time its own, RFC 3339 times with milliseconds,
batches compressed with the collector's default codec (lz4). Then runs one Lander
in this process with its default rotation; once every record is read it stops the lander as
SIGTERM would, which publishes the rest. Reports events/s from the first record read to the
last file published, with the file count and sizes, where the lander's time went, and the
load average (the machine is shared: figures move with it), and the CPU per event of the
lander, the broker and the HDFS daemons: their sum bounds what this machine can land at all
(bench/stack_cpu.py). `--read-only` reads the topic with the lander's consumer settings and
does nothing else: the ceiling Kafka and aiokafka set. The files are deleted afterwards
unless --keep; a topic filled here is deleted too.

Results behind the lander's defaults (figures of this 2-core machine, side by side in one run):
- max_poll_records (stream/settings.py), one 1 M-event topic, interleaved runs: 80-87k events/s
  at 20,000 against 71-76k at 5,000; 50,000 gave no more.
- The native read's blocks parsed on Arrow's threads (stream/native.py): landing 1 M events
  took 13 s instead of 14 (decoding 5.7 s instead of 7.5).
- Records split by the collector (schemas/record.py): process CPU for 5 M events 103 -> 64 s
  (the split costs the collector about 3 us per event, and saves the lander about 8).
- No Parquet dictionary on the columns with a value per event (stream/buffer.py): files 6%
  smaller and 6% faster to encode.
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
from event_mix import EVENT_MIX  # bench/ is sys.path[0] when run as a script
from stack_cpu import DATANODE, KAFKA, NAMENODE, CpuMeter, describe, stack_jvms

from collector.records import event_record
from collector.settings import CollectorSettings
from infra.endpoints import Endpoints
from infra.provider import provide_stack
from stream.consumer import Lander
from stream.metrics import total
from stream.settings import LanderSettings

COLLECTOR_CODEC = CollectorSettings.model_fields["compression"].default

# -- events as the collector writes them ---------------------------------------------------------

BASE_MS = 1_794_326_400_000  # 2026-11-10T16:00:00Z: midnight in Shanghai, Double 11 starts
CATEGORIES = (
    *("lipstick", "serum", "foundation", "mascara", "cleanser", "toner", "sunscreen"),
    *("eyeshadow", "perfume", "mask", "moisturizer", "blush"),
)
PRICES = (39.0, 59.9, 79.0, 89.9, 99.0, 129.0, 159.0, 199.0, 239.0, 299.0, 459.5, 899.0)
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148 MicroMessenger/8.0.43",
    "Mozilla/5.0 (Linux; Android 14; 22081212C) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36",
    "SurgeShop/5.12.0 (iPhone15,2; iOS 17.1.1; Scale/3.00)",
    "SurgeShop/5.11.3 (Android 13; SM-S9180)",
)
CAMPAIGNS = (
    ("weibo", "social", "double11"),
    ("douyin", "video", "d11-live"),
    ("wechat", "social", "double11"),
    ("baidu", "cpc", "brand-search"),
    ("newsletter", "email", "d11-preheat"),
)
SHOP = "https://shop.example.com"


class EventMaker:
    """Enriched events of a flash sale: `value(i)` is the i-th of `count`, spread over
    `hours` of event time in order, 1% of them late (sent from an app's offline queue)."""

    def __init__(self, count: int, hours: float = 2.0, seed: int = 7):
        self.rnd = random.Random(seed)
        self.count, self.span_ms = count, int(hours * 3_600_000)
        self.types = list(EVENT_MIX)
        self.weights = list(EVENT_MIX.values())
        rnd = self.rnd
        self.products = [
            (f"{c[:3].upper()}-{n:04d}-{rnd.choice(['RED', 'NUDE', '30ML', '50ML', 'XL'])}", c)
            for n in range(3000)
            for c in [rnd.choice(CATEGORIES)]
        ]
        self.prices = {sku: rnd.choice(PRICES) for sku, _ in self.products}

    def value(self, i: int) -> tuple[bytes, bytes]:
        """(key, value) of the i-th event, as the collector produces it."""
        return event_record(self.event(i))

    def event(self, i: int) -> dict[str, Any]:
        rnd = self.rnd
        received = BASE_MS + self.span_ms * i // self.count
        happened = received - rnd.randrange(50, 4000)
        if rnd.random() < 0.01:
            happened -= rnd.randrange(60_000, 5_400_000)
        kind = rnd.choices(self.types, self.weights)[0]
        app = rnd.random() < 0.45
        device = rnd.getrandbits(40)
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "type": kind,
            "ts": happened if rnd.random() < 0.3 else _rfc3339(happened, "+08:00"),
            "device_id": f"d_{device:010x}",
            "user_id": f"u_{rnd.randrange(5_000_000)}" if rnd.random() < 0.6 else None,
            "session_id": f"s_{device % 10**9:09d}{received // 1_800_000 % 100:02d}",
        }
        sku, category = rnd.choice(self.products)
        price = self.prices[sku]
        if not app:
            event["page"] = self._page(kind, sku)
        context: dict[str, Any] = {
            "platform": "ios" if app and device % 2 else "android" if app else "web",
            "app_version": "5.12.0" if app else "web-sdk 1.4.2",
            "locale": "zh-CN" if rnd.random() < 0.9 else "en-US",
        }
        if rnd.random() < 0.35:
            source, medium, name = rnd.choice(CAMPAIGNS)
            context["campaign"] = {"source": source, "medium": medium, "name": name}
        event["context"] = context
        properties = self._properties(kind, sku, category, price)
        if properties is not None:
            event["properties"] = properties
        if rnd.random() < 0.2:
            event["$lib"] = {"name": "surge-web", "version": "1.4.2"}  # an unknown field
        event.update(
            event_time=_rfc3339(happened),
            received_at=_rfc3339(received),
            ip=f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.0",
            user_agent=USER_AGENTS[device % len(USER_AGENTS)],
            app_id="shop-cn",
            schema_version=1,
        )
        return event

    def _page(self, kind: str, sku: str) -> dict[str, Any]:
        rnd = self.rnd
        if kind == "page_view":
            url = rnd.choice(
                [
                    f"{SHOP}/",
                    f"{SHOP}/c/{rnd.choice(CATEGORIES)}?page={rnd.randrange(1, 9)}",
                    f"{SHOP}/campaign/double11?from=banner{rnd.randrange(40)}",
                ]
            )
        elif kind == "search":
            url = f"{SHOP}/search?q={rnd.choice(CATEGORIES)}+{rnd.randrange(100)}"
        elif kind in ("begin_checkout", "order_placed", "payment_succeeded", "refund"):
            url = f"{SHOP}/checkout?step={rnd.randrange(1, 4)}"
        else:
            url = f"{SHOP}/p/{sku}?spm=a21bo.{rnd.randrange(10**4)}.{rnd.randrange(100)}"
        referrer = rnd.choice([f"{SHOP}/", "https://www.baidu.com/", "https://m.weibo.cn/", None])
        return {"url": url, "referrer": referrer, "title": f"{kind.replace('_', ' ').title()}"}

    def _properties(self, kind: str, sku: str, category: str, price: float) -> dict | None:
        rnd = self.rnd
        if kind == "page_view":
            return None
        if kind == "product_view":
            return {"sku": sku, "category": category, "price": price}
        if kind == "search":
            return {"query": f"{category} {rnd.choice(['red', 'matte', 'spf50', 'gift set'])}"}
        if kind in ("add_to_cart", "remove_from_cart"):
            return {"sku": sku, "category": category, "price": price, "quantity": 1}
        order_id = f"SO-20261111-{rnd.randrange(10**7):07d}"
        if kind in ("begin_checkout", "order_placed"):
            items = []
            for _ in range(rnd.randint(1, 4)):
                item_sku, item_category = rnd.choice(self.products)
                price = self.prices[item_sku]
                items.append(
                    {"sku": item_sku, "category": item_category, "price": price, "quantity": 1}
                )
            amount = round(sum(item["price"] for item in items) * 0.85, 2)
            out: dict[str, Any] = {"amount": amount, "currency": "CNY", "items": items}
            if kind == "order_placed":
                out["order_id"] = order_id
                if rnd.random() < 0.4:
                    out["coupon"] = "D11-50"  # an unknown property
            return out
        amount = round(price * rnd.randint(1, 3) * 0.85, 2)
        if kind == "refund":
            return {"order_id": order_id, "amount": amount}
        method = rnd.choice(["alipay", "wechat_pay", "card"])
        return {"order_id": order_id, "amount": amount, "currency": "CNY", "method": method}


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
    part = lander.partitions.get(tp)
    return -1 if part is None or part.writer.expected is None else part.writer.expected


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
        print(describe(meter.per_event(total(lander.metrics.records_landed))))
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
    rows = int(total(lander.metrics.records_landed))
    seconds = (p.last_published_at or 0) - (p.first_read_at or 0)
    sizes = sorted(p.file_sizes)
    mib = 1024 * 1024
    print(f"landed {rows} of {events} events in {seconds:.1f} s", flush=True)
    if seconds > 0:
        rate = rows / seconds
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
            f"{sizes[-1] / mib:.2f} MiB; {sum(sizes) / max(1, rows):.1f} bytes/event"
        )
        big = [size for size in sizes if size >= mib]
        print(
            f"files of 1 MiB or more: {len(big)}, {sum(big) / max(1, sum(sizes)):.0%} of the "
            f"bytes (the small ones hold the hours of late events)"
        )


if __name__ == "__main__":
    sys.exit(main())
