"""Kafka -> Parquet on HDFS side by side: Surge's lander (bench/bench_lander.py) and Spark
Structured Streaming (bench/peers/spark_lander.py), each alone on the SUT core, landing the
same pre-filled topic (the collector's records) into the same HDFS.

The topic is filled once per run of the bench; each run lands it with a fresh consumer group /
checkpoint and folder, deleted afterwards. Figures: events/s from the first record read to the
last file published (the lander) or from the query's start to its end (Spark; neither counts
its process's start), CPU µs per event of the lander's process / Spark's JVM, files and bytes
written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from hdfs import InsecureClient
from stack_cpu import DATANODE, KAFKA, NAMENODE  # bench/ is sys.path[0]

from infra.endpoints import Endpoints
from infra.jars import classpath
from infra.settings import StackSettings
from peers.tools import (
    HERE,
    REPO,
    median,
    pinned,
    shared_stack_jvms,
    stack_lock,
    stack_off_the_sut_core,
)

BENCH_LANDER = REPO / "bench" / "bench_lander.py"


def section(args, folder: Path) -> dict:
    settings = StackSettings()
    endpoints = Endpoints.of_local(settings)
    jars = classpath(settings.jar_cache, "spark-kafka").split(":", 1)[0]
    spark_jars = ",".join(str(p) for p in sorted(Path(jars).glob("*.jar")))
    # One stretch of the stack's lock per run, both landers in it (the first also fills the
    # topic, the last deletes it): on a busy stack every stretch waits for its turn.
    topic, runs = None, []
    try:
        for n in range(args.runs):
            with stack_lock(not args.no_lock), stack_off_the_sut_core(_stack()):
                topic = topic or fill(args.lander_events)
                print(f"lander run {n + 1}/{args.runs} ({args.lander_events:,} events)", flush=True)
                # Turns, as for the collectors: a slow minute does not always hit the same one.
                order = ["surge", "spark"] if n % 2 == 0 else ["spark", "surge"]
                run = {}
                for name in order:
                    if name == "surge":
                        run[name] = surge_lander(topic)
                    else:
                        run[name] = spark_lander(topic, endpoints, spark_jars)
                if n == args.runs - 1:
                    _delete_topic(endpoints, topic)
                    topic = None
            runs.append(run)
    finally:
        if topic is not None:
            with stack_lock(not args.no_lock):
                _delete_topic(endpoints, topic)
    medians = {
        name: {
            figure: median([run[name].get(figure) for run in runs])
            for figure in ("events_per_s", "cpu_us_per_event", "files", "bytes")
        }
        for name in ("surge", "spark")
    }
    return {"topic_events": args.lander_events, "runs": runs, "medians": medians}


def rows(m: dict) -> list[tuple]:
    s, k = m["surge"], m["spark"]
    return [
        ("lander events/s per core", s["events_per_s"], "Spark SS", k["events_per_s"],
         ">= 3", 3.0),
        ("lander CPU µs/event", s["cpu_us_per_event"], "Spark SS", k["cpu_us_per_event"],
         "", None),
        ("lander files written", s["files"], "Spark SS", k["files"], "", None),
        ("lander MiB written", _mib(s["bytes"]), "Spark SS", _mib(k["bytes"]), "", None),
    ]  # fmt: skip


def _mib(b: float | None) -> float | None:
    return None if b is None else b / 2**20


def _stack():
    return shared_stack_jvms(KAFKA, NAMENODE, DATANODE)


def fill(events: int) -> str:
    """A fresh topic of ``events`` of the collector's records; returns its name."""
    done = subprocess.run(
        [sys.executable, str(BENCH_LANDER), "--events", str(events), "--fill-only"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    print("  " + done.stdout.strip().splitlines()[0], flush=True)
    return re.search(r"^topic: (\S+)", done.stdout, re.M)[1]


def surge_lander(topic: str) -> dict:
    """bench/bench_lander.py on the SUT core, landing ``topic`` with one lander."""
    done = subprocess.run(
        pinned([sys.executable, str(BENCH_LANDER), "--topic", topic]),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    out = done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"bench_lander.py failed:\n{out[-1500:]}\n{done.stderr[-1500:]}")
    rate = re.search(r"throughput: ([\d,]+) events/s", out)
    cpu = re.search(r"CPU per event \(µs\): lander ([\d.]+)", out)
    files = re.search(r"files: (\d+), ([\d.]+) MiB in all", out)
    result = {
        "events_per_s": float(rate[1].replace(",", "")),
        "cpu_us_per_event": float(cpu[1]),
        "files": int(files[1]),
        "bytes": float(files[2]) * 2**20,
    }
    _print("surge", result)
    return result


def spark_lander(topic: str, endpoints: Endpoints, jars: str) -> dict:
    """bench/peers/spark_lander.py on the SUT core (local[1]), into a fresh folder."""
    folder = f"/surge/bench/spark-{topic}-{uuid.uuid4().hex[:6]}"
    env = os.environ | {
        "SPARK_LOCAL_IP": "127.0.0.1",
        "HADOOP_USER_NAME": endpoints.hdfs_user,
        "PYSPARK_PYTHON": sys.executable,
    }
    cmd = [
        sys.executable, str(HERE / "spark_lander.py"), "--topic", topic,
        "--bootstrap", endpoints.kafka_bootstrap, "--jars", jars,
        "--out", f"{endpoints.hdfs_default_fs}{folder}/events",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(pinned(cmd), cwd=REPO, env=env, capture_output=True, text=True)
    client = InsecureClient(endpoints.webhdfs_url, user=endpoints.hdfs_user)
    try:
        if done.returncode != 0:
            raise RuntimeError(f"spark_lander.py failed:\n{done.stderr[-3000:]}")
        line = json.loads(done.stdout.strip().splitlines()[-1])
        sizes = [
            status["length"]
            for path, _, files in client.walk(f"{folder}/events", status=True)
            if "_spark_metadata" not in path[0]
            for _, status in files
            if status["pathSuffix"].endswith(".parquet")
        ]
        result = {
            "events_per_s": line["events"] / line["seconds"],
            "cpu_us_per_event": line["cpu_s"] / max(1, line["events"]) * 1e6,
            "files": len(sizes),
            "bytes": float(sum(sizes)),
            "events": line["events"],
            "process_s": time.monotonic() - started,
        }
    finally:
        client.delete(folder, recursive=True)
    _print("spark", result)
    return result


def _print(name: str, r: dict) -> None:
    print(
        f"  {name:<6} {r['events_per_s']:>9,.0f} events/s  CPU {r['cpu_us_per_event']:6.1f} "
        f"µs/event  {r['files']} files, {r['bytes'] / 2**20:.1f} MiB",
        flush=True,
    )


def _delete_topic(endpoints: Endpoints, topic: str) -> None:
    from peers.http_collectors import delete_topics

    delete_topics(endpoints.kafka_bootstrap, [topic, f"{topic}.dlq"])
