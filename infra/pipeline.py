"""``make run``: the whole pipeline on the local stack, end to end, with what it did printed.

    stack up -> collector and lander started -> a flash sale POSTed to the collector (loadgen)
    -> wait until the lander has published every record -> Spark reports of the day
    -> collector and lander stopped with SIGTERM (the stack is left running)

``--serve`` instead keeps the collector and the lander running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiohttp
import pyarrow as pa
import pyarrow.parquet as pq
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from infra.endpoints import Endpoints
from infra.smoke import hdfs_client
from infra.stack import LocalStack
from loadgen import Constant, LoadConfig, run_async

EVENTS_ROOT = "/surge/events"
REPORTS_ROOT = "/surge/reports"
TOPIC = "surge.events"
GROUP = "surge-lander"


def _say(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def services(endpoints: Endpoints, port: int) -> Iterator[None]:
    """The collector and the lander as real processes; SIGTERM and wait on the way out."""
    env = os.environ | {
        "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap,
        "SURGE_COLLECTOR_PORT": str(port),
        "SURGE_COLLECTOR_WORKERS": "1",
        "SURGE_LANDER_BOOTSTRAP": endpoints.kafka_bootstrap,
        "SURGE_LANDER_STORAGE_URL": endpoints.webhdfs_url,
        "SURGE_LANDER_HDFS_USER": endpoints.hdfs_user,
        "SURGE_LANDER_ROTATE_AGE_S": os.environ.get("SURGE_LANDER_ROTATE_AGE_S", "5"),
    }
    procs = [
        subprocess.Popen([sys.executable, "-m", module], env=env)
        for module in ("collector", "stream")
    ]
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)


async def wait_ready(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/readyz") as answer:
                    if answer.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"collector at {url} not ready after {timeout_s:.0f} s")
            await asyncio.sleep(0.3)


async def post_sale(url: str, events: int, events_per_s: float) -> tuple[int, int]:
    """POST a flash sale of ``events`` events (1 % invalid on purpose: answered by index, to
    surge.events.dlq) in batches of 20 with the `dev` write key; (accepted, rejected)."""
    config = LoadConfig(
        url=url,
        profile=Constant(events_per_s=events_per_s, duration_s=events / events_per_s),
        invalid_event_share=0.01,
        progress=False,
    )
    results = await run_async(config)
    d = results.as_dict()
    if set(d["requests"]["by_status"]) != {"200"} or d["requests"]["unfinished"]:
        raise RuntimeError(f"the collector did not accept every batch:\n{results.summary()}")
    return d["events"]["acked"], d["events"]["rejected"]


async def wait_landed(bootstrap: str, timeout_s: float = 120) -> None:
    """Until the lander's committed offsets reach the end of every partition of surge.events.

    The lander commits only what it has published, so no lag means every record is on HDFS.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        (topic,) = await admin.describe_topics([TOPIC])
        partitions = [TopicPartition(TOPIC, p["partition"]) for p in topic["partitions"]]
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while True:
            committed = await admin.list_consumer_group_offsets(GROUP)
            lag = sum(
                end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
            )
            if lag <= 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"lander still {lag} records behind after {timeout_s:.0f} s")
            await asyncio.sleep(1)
    finally:
        await consumer.stop()
        await admin.close()


def landed_summary(endpoints: Endpoints) -> str:
    client = hdfs_client(endpoints)
    files = [
        f"{root}/{name}"
        for root, _, names in client.walk(EVENTS_ROOT)
        for name in names
        if name.endswith(".parquet") and "/_" not in root
    ]
    rows = 0
    for path in files:
        with client.read(path) as reader:
            rows += pq.ParquetFile(pa.BufferReader(reader.read())).metadata.num_rows
    return f"{len(files)} Parquet files, {rows} rows under {EVENTS_ROOT}"


def read_report(endpoints: Endpoints, report: str, day: str) -> pa.Table:
    """One day of a report, read back through WebHDFS as a dashboard would read it."""
    client = hdfs_client(endpoints)
    folder = f"{REPORTS_ROOT}/{report}/dt={day}"
    tables = []
    for name in client.list(folder):
        if name.endswith(".parquet"):
            with client.read(f"{folder}/{name}") as reader:
                tables.append(pq.read_table(pa.BufferReader(reader.read())))
    return pa.concat_tables(tables)


def headline(endpoints: Endpoints, day: str) -> str:
    """The totals row of sales_daily and traffic_daily, and the funnel's device counts."""

    def total(report: str, *dims: str) -> dict:
        rows = read_report(endpoints, report, day).to_pylist()
        return next(r for r in rows if all(r[d] == "(all)" for d in dims))

    sales = total("sales_daily", "category", "platform")
    traffic = total("traffic_daily", "platform", "campaign_source")
    funnel = total("funnel_daily", "platform", "campaign_source")
    steps = " -> ".join(f"{funnel[k]}" for k in funnel if k.endswith("_devices"))
    return (
        f"  sales:   GMV {sales['gmv']:.2f}, {sales['paid_orders']} paid orders, "
        f"{sales['buyers']} buyers, net revenue {sales['net_revenue']:.2f}\n"
        f"  traffic: {traffic['page_views']} page views, {traffic['unique_devices']} devices\n"
        f"  funnel:  {steps} devices (product view -> ... -> paid)"
    )


def run_reports(endpoints: Endpoints, day: str) -> None:
    fs = endpoints.hdfs_default_fs
    cmd = [
        sys.executable,
        "-m",
        "batch.reports",
        "--date",
        day,
        "--master",
        "local[2]",
        "--events",
        f"{fs}{EVENTS_ROOT}",
        "--reports",
        f"{fs}{REPORTS_ROOT}",
    ]
    env = os.environ | {"HADOOP_USER_NAME": endpoints.hdfs_user}
    subprocess.run(cmd, check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.pipeline", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="events to send (10000)")
    parser.add_argument(
        "--events-per-s", type=float, default=2000, help="offered events per second (2000)"
    )
    parser.add_argument("--port", type=int, default=8080, help="collector port (8080)")
    parser.add_argument("--serve", action="store_true", help="run the services until Ctrl-C")
    args = parser.parse_args(argv)
    endpoints = Endpoints.from_env() or LocalStack().up()
    url = f"http://127.0.0.1:{args.port}"
    with services(endpoints, args.port):
        asyncio.run(wait_ready(url))
        if args.serve:
            _say(f"collector on {url} (write key `dev`), lander into {EVENTS_ROOT}; Ctrl-C stops")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
            return 0
        started = time.monotonic()
        accepted, rejected = asyncio.run(post_sale(url, args.events, args.events_per_s))
        _say(
            f"collector: {accepted} events accepted, {rejected} rejected (to the DLQ) "
            f"in {time.monotonic() - started:.1f} s"
        )
        asyncio.run(wait_landed(endpoints.kafka_bootstrap))
        _say(f"lander: {landed_summary(endpoints)}")
    day = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    run_reports(endpoints, day)
    _say(f"reports of {day} (Asia/Shanghai) under {endpoints.hdfs_default_fs}{REPORTS_ROOT}:")
    _say(headline(endpoints, day))
    return 0


if __name__ == "__main__":
    sys.exit(main())
