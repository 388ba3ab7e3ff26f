"""The lander's peer: Spark Structured Streaming lands a Kafka topic as Parquet on HDFS.

    python bench/peers/spark_lander.py --topic T --bootstrap B --jars A.jar,B.jar \
        --out hdfs://127.0.0.1:8020/surge/bench/x/events --events N

What a Spark shop would write instead of the lander: the Kafka source read from the earliest
offsets, each value parsed with the landed table's schema (schemas.spark_schema()), written as
Parquet (zstd) into the same dt=/hr= folders of the event's UTC hour, exactly once by Spark's
checkpoint; one trigger that reads everything there is (availableNow), on local[1].
Prints one JSON line: events written, seconds from the query's start to its end (the JVM's
start is not counted, as the lander's process start is not), and the JVM's CPU meanwhile.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from schemas.spark import spark_schema


def jvm_cpu_s() -> float:
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--jars", required=True, help="comma-separated Kafka connector jars")
    parser.add_argument("--out", required=True, help="root of the dt=/hr= folders")
    parser.add_argument("--master", default="local[1]")
    args = parser.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master(args.master)
        .appName("surge-bench-spark-lander")
        .config("spark.jars", args.jars)
        .config("spark.driver.memory", "2g")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    events = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.bootstrap)
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(F.from_json(F.col("value").cast("string"), spark_schema()).alias("e"))
        .select("e.*")
        .withColumn("dt", F.to_date("event_time"))
        .withColumn("hr", F.hour("event_time"))
    )
    cpu, started = jvm_cpu_s(), time.monotonic()
    query = (
        events.writeStream.format("parquet")
        .option("path", args.out)
        .option("checkpointLocation", args.out.rsplit("/", 1)[0] + "/_checkpoint")
        .partitionBy("dt", "hr")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    seconds, cpu = time.monotonic() - started, jvm_cpu_s() - cpu
    rows = sum(p["numInputRows"] for p in query.recentProgress)
    print(json.dumps({"events": rows, "seconds": seconds, "cpu_s": cpu}), flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
