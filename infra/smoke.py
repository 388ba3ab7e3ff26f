"""The smoke of a running stack: one round trip through each real service.

``python -m infra.smoke`` (what ``make run`` runs until the pipeline stages exist) prints what it
did; the tests call the same round trips and assert on what came back.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
import uuid
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hdfs import InsecureClient

from infra.endpoints import Endpoints
from infra.errors import StackError

TOPIC = "surge.events"
SMOKE_DIR = "/surge/_smoke"


async def kafka_round_trip(endpoints: Endpoints, value: bytes) -> bytes:
    """Produce ``value`` to surge.events (acks=all) and read back the record at its offset."""
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(TOPIC, value, key=b"smoke")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=endpoints.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partition = TopicPartition(TOPIC, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        record = await asyncio.wait_for(consumer.getone(partition), timeout=10)
        return record.value
    finally:
        await consumer.stop()


def hdfs_client(endpoints: Endpoints) -> InsecureClient:
    return InsecureClient(endpoints.webhdfs_url, user=endpoints.hdfs_user)


def hdfs_round_trip(endpoints: Endpoints, data: bytes) -> bytes:
    """Write ``data`` under a hidden temp name, rename it into place, read it back, clean up."""
    client = hdfs_client(endpoints)
    name = uuid.uuid4().hex
    temp, final = f"{SMOKE_DIR}/.{name}.tmp", f"{SMOKE_DIR}/{name}.txt"
    client.write(temp, data=data)
    client.rename(temp, final)  # raises HdfsError when the NameNode refuses the rename
    try:
        with client.read(final) as reader:
            return reader.read()
    finally:
        client.delete(final)


def spark_round_trip(endpoints: Endpoints, table: pa.Table) -> list[dict]:
    """Write ``table`` as Parquet through WebHDFS and read it back with Spark from hdfs://."""
    client = hdfs_client(endpoints)
    path = f"{SMOKE_DIR}/{uuid.uuid4().hex}.parquet"
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    client.write(path, data=buffer.getvalue())
    try:
        spark = local_spark(endpoints)
        rows = spark.read.parquet(f"{endpoints.hdfs_default_fs}{path}").collect()
        return [row.asDict() for row in rows]
    finally:
        client.delete(path)


def local_spark(endpoints: Endpoints):
    """A small local Spark session that talks to the stack's HDFS as its HDFS user."""
    from pyspark.sql import SparkSession  # slow import: only the Spark round trip pays it

    os.environ.setdefault("HADOOP_USER_NAME", endpoints.hdfs_user)
    return (
        SparkSession.builder.master("local[1]")
        .appName("surge-smoke")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def main() -> int:
    from infra.stack import LocalStack

    endpoints = Endpoints.from_env() or LocalStack().endpoints
    token = uuid.uuid4().hex.encode()
    table = pa.table({"event_id": ["a", "b", "c"], "amount": [1.5, 2.0, 0.0]})
    try:
        _step(
            "kafka",
            f"produced and consumed a record on {TOPIC} at {endpoints.kafka_bootstrap}",
            lambda: asyncio.run(kafka_round_trip(endpoints, token)),
            expected=token,
        )
        _step(
            "hdfs",
            f"wrote, renamed, read back and deleted a file under {SMOKE_DIR}",
            lambda: hdfs_round_trip(endpoints, token),
            expected=token,
        )
        _step(
            "spark",
            f"read Parquet from {endpoints.hdfs_default_fs}{SMOKE_DIR} with Spark",
            lambda: sorted(spark_round_trip(endpoints, table), key=lambda row: row["event_id"]),
            expected=table.to_pylist(),
        )
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("smoke passed: Kafka, HDFS and Spark answer")
    return 0


def _step(name: str, what: str, run: Callable[[], object], expected: object) -> None:
    started = time.monotonic()
    try:
        result = run()
    except Exception as exc:
        raise StackError(
            f"{name} smoke failed: {exc!r} (is the stack up? make stack-status)"
        ) from exc
    if result != expected:
        raise StackError(f"{name} smoke read back {result!r}, expected {expected!r}")
    print(f"ok  {name:<6} {what} ({time.monotonic() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
