"""HTTP -> Kafka side by side: Surge's collector, Benthos, an empty aiohttp server, and Kafka's
own ProducerPerformance, each alone on the system-under-test's core, under the same load.

The load is vegeta (open loop, on the other core) replaying the same pre-built batches of
client events to every server. For each HTTP server:

- ``max``: closed loop, 64 connections, for ``phase_s``: the most it acknowledges (events/s of
  2xx answers) on one core, and its CPU per acknowledged event, read from /proc;
- then open loop at 50, 70 and 100 % of that max: latency percentiles (vegeta measures from
  the request's scheduled start; it adds workers rather than wait for a free one), acked
  events/s, CPU per event.

ProducerPerformance sends the collector's own records (enriched events, lz4, acks=all,
linger 10 ms) as fast as it can: what one core can hand the broker with no HTTP at all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

from peers.tools import (
    HERE,
    REPO,
    cpu_seconds,
    free_port,
    go_peer,
    on_other_cores,
    pinned,
    stop,
    wait_port,
)

EVENTS_PER_REQUEST = 20
DISTINCT_BODIES = 500
CONNECTIONS = 64
LOAD_SHARES = (0.5, 0.7, 1.0)


# -- the load --------------------------------------------------------------------------------


def client_events(n: int) -> list[dict]:
    """Events as a browser or app SDK sends them: shoppers' visits from the shared generator."""
    from loadgen import events

    return list(events(n, seed=19))


def write_targets(folder: Path, port: int) -> tuple[Path, float]:
    """vegeta's targets (JSON lines, bodies base64): DISTINCT_BODIES batches of
    EVENTS_PER_REQUEST events. Returns the file and the mean event size in bytes."""
    events = client_events(DISTINCT_BODIES * EVENTS_PER_REQUEST)
    path = folder / f"targets-{port}.jsonl"
    sizes = []
    with path.open("wb") as out:
        for n in range(DISTINCT_BODIES):
            batch = events[n * EVENTS_PER_REQUEST : (n + 1) * EVENTS_PER_REQUEST]
            sizes.extend(len(orjson.dumps(e)) for e in batch)
            body = orjson.dumps({"sent_at": "2026-11-11T00:00:04.000+08:00", "events": batch})
            target = {
                "method": "POST",
                "url": f"http://127.0.0.1:{port}/v1/batch",
                "body": base64.b64encode(body).decode(),
                "header": {"Content-Type": ["application/json"], "X-Write-Key": ["dev"]},
            }
            out.write(orjson.dumps(target) + b"\n")
    return path, sum(sizes) / len(sizes)


def attack(
    vegeta: Path, targets: Path, seconds: float, rate_rps: float | None, proc: psutil.Process
) -> dict:
    """One vegeta attack: closed loop on CONNECTIONS connections when ``rate_rps`` is None,
    else open loop at that many requests/s. Returns acked events/s, latencies (ms) and the
    server's CPU per acked event (µs)."""
    if rate_rps is None:
        pace = ["-rate=0", f"-workers={CONNECTIONS}", f"-max-workers={CONNECTIONS}"]
    else:
        pace = [f"-rate={max(1, round(rate_rps))}/1s", f"-workers={CONNECTIONS}"]
    with tempfile.NamedTemporaryFile(suffix=".bin") as results:
        cmd = [
            str(vegeta), "attack", "-format=json", f"-targets={targets}",
            f"-duration={seconds}s", "-timeout=10s", f"-output={results.name}", *pace,
        ]  # fmt: skip
        cpu = cpu_seconds(proc)
        subprocess.run(on_other_cores(cmd), check=True)
        cpu = cpu_seconds(proc) - cpu
        report = subprocess.run(
            [str(vegeta), "report", "-type=json", results.name],
            check=True,
            capture_output=True,
            text=True,
        )
    r = json.loads(report.stdout)
    acked = sum(n for code, n in r["status_codes"].items() if code.startswith("2"))
    wall = (r["duration"] + r["wait"]) / 1e9
    lat = r["latencies"]
    return {
        "offered_eps": None if rate_rps is None else rate_rps * EVENTS_PER_REQUEST,
        "acked_eps": acked * EVENTS_PER_REQUEST / wall if wall else 0.0,
        "requests": r["requests"],
        "statuses": r["status_codes"],
        "p50_ms": lat["50th"] / 1e6,
        "p90_ms": lat["90th"] / 1e6,
        "p99_ms": lat["99th"] / 1e6,
        "max_ms": lat["max"] / 1e6,
        "cpu_us_per_event": cpu / max(1, acked * EVENTS_PER_REQUEST) * 1e6,
        "errors": r.get("errors") or [],
    }


# -- the servers -------------------------------------------------------------------------------


def start_surge(port: int, bootstrap: str, topic: str) -> subprocess.Popen:
    env = {
        "SURGE_COLLECTOR_PORT": str(port),
        "SURGE_COLLECTOR_WORKERS": "1",
        "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": bootstrap,
        "SURGE_COLLECTOR_TOPIC": topic,
        "SURGE_COLLECTOR_DLQ_TOPIC": f"{topic}.dlq",
        "SURGE_COLLECTOR_LOG_LEVEL": "WARNING",
    }
    return _start(pinned([sys.executable, "-m", "collector"]), env)


def start_benthos(port: int, bootstrap: str, topic: str) -> subprocess.Popen:
    env = {
        "BENCH_PORT": str(port),
        "BENCH_KAFKA": bootstrap,
        "BENCH_TOPIC": topic,
        "GOMAXPROCS": "1",
    }
    config = HERE / "benthos_collector.yaml"
    return _start(pinned([str(go_peer("benthos")), "-c", str(config)]), env)


def start_empty(port: int, bootstrap: str, topic: str) -> subprocess.Popen:
    """The load generator's trivial server: an aiohttp handler that reads the body, answers 200."""
    server = [sys.executable, "-m", "loadgen.trivial_server", "--port", str(port)]
    return _start(pinned(server), {})


def _start(cmd: list[str], env: dict) -> subprocess.Popen:
    import os

    return subprocess.Popen(cmd, cwd=REPO, env=os.environ | env)


SERVERS = {"surge": start_surge, "benthos": start_benthos, "aiohttp_empty": start_empty}


def measure_server(
    name: str, vegeta: Path, folder: Path, bootstrap: str, topic: str, phase_s: float
) -> dict:
    """Start one server on the SUT core, warm it up, find its max, then the open-loop loads."""
    port = free_port()
    targets, event_bytes = write_targets(folder, port)
    proc = SERVERS[name](port, bootstrap, topic)
    try:
        wait_port(port)
        if name == "surge":
            _wait_ready(port)
        server = psutil.Process(proc.pid)
        attack(vegeta, targets, 3, None, server)  # warm-up: connections, caches, JIT-less Go
        top = attack(vegeta, targets, phase_s, None, server)
        result = {"event_bytes": event_bytes, "max": top}
        print(f"  {name:<14} max {_line(top)}", flush=True)
        if name != "aiohttp_empty":  # the empty server's figure is its max alone
            for share in LOAD_SHARES:
                rps = top["acked_eps"] * share / EVENTS_PER_REQUEST
                at = attack(vegeta, targets, phase_s, rps, server)
                result[f"at_{round(share * 100)}"] = at
                print(f"  {name:<14} {share:>4.0%} {_line(at)}", flush=True)
        return result
    finally:
        stop(proc)


def _wait_ready(port: int, timeout_s: float = 30) -> None:
    """Until the collector says it reached Kafka (it answers 503 before)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        url = f"http://127.0.0.1:{port}/readyz"
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the collector did not get ready")


def _line(r: dict) -> str:
    offered = f"offered {r['offered_eps']:>8,.0f} " if r["offered_eps"] else " " * 17
    errors = f" errors {r['errors'][:2]}" if r["errors"] else ""
    return (
        f"{offered}acked {r['acked_eps']:>8,.0f} ev/s  p50 {r['p50_ms']:6.1f} ms  "
        f"p99 {r['p99_ms']:7.1f} ms  CPU {r['cpu_us_per_event']:5.1f} µs/event  "
        f"{r['statuses']}{errors}"
    )


# -- Kafka's own producer ------------------------------------------------------------------------


def producer_performance(
    classpath: str, folder: Path, bootstrap: str, topic: str, records: int
) -> dict:
    """Kafka's ProducerPerformance on the SUT core, sending the collector's records."""
    payloads = folder / "payloads.txt"
    if not payloads.exists():
        from bench_lander import EventMaker

        from collector.records import event_record

        maker = EventMaker(20_000)
        with payloads.open("wb") as out:
            for i in range(20_000):
                out.write(event_record(maker.event(i))[1] + b"\n")
    cmd = pinned(
        [
            "java", "-Xmx512m", "-cp", classpath, "org.apache.kafka.tools.ProducerPerformance",
            "--topic", topic, "--num-records", str(records), "--throughput", "-1",
            "--payload-file", str(payloads),
            "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
            "compression.type=lz4", "linger.ms=10", "batch.size=262144",
            "enable.idempotence=true",
        ]
    )  # fmt: skip
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    jvm = psutil.Process(proc.pid)
    cpu, out = 0.0, []
    for line in proc.stdout:
        out.append(line)
        with contextlib.suppress(psutil.Error):
            cpu = cpu_seconds(jvm)  # the last reading before it exits
    proc.wait()
    text = "".join(out)
    final = re.search(
        r"(\d+) records sent, ([\d.]+) records/sec .*?([\d.]+) ms avg latency.*?"
        r"(\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th",
        text,
    )
    if proc.returncode != 0 or final is None:
        raise RuntimeError(f"ProducerPerformance failed:\n{text[-2000:]}")
    sent = int(final[1])
    result = {
        "records_per_s": float(final[2]),
        "p50_ms": float(final[4]),
        "p99_ms": float(final[6]),
        # The whole JVM's CPU, its start and JIT included: an upper bound of the ceiling's cost.
        "cpu_us_per_event": cpu / max(1, sent) * 1e6,
        "wall_s": time.monotonic() - started,
    }
    print(
        f"  ProducerPerformance {result['records_per_s']:>8,.0f} records/s  p50 "
        f"{result['p50_ms']:.0f} ms  p99 {result['p99_ms']:.0f} ms  CPU "
        f"{result['cpu_us_per_event']:.1f} µs/record (whole JVM)",
        flush=True,
    )
    return result


# -- topics ----------------------------------------------------------------------------------------


def recreate_topics(bootstrap: str, topics: list[str], partitions: int) -> None:
    asyncio.run(_recreate(bootstrap, topics, partitions))


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    asyncio.run(_delete(bootstrap, topics))


async def _recreate(bootstrap: str, topics: list[str], partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    await _delete(bootstrap, topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(50):  # a deleted topic takes a moment to go
            try:
                await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
                return
            except Exception:  # TopicAlreadyExistsError while the deletion settles
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def _delete(bootstrap: str, topics: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        gone = [t for t in topics if t in existing]
        if gone:
            await admin.delete_topics(gone)
    finally:
        await admin.close()
