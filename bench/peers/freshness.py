"""Freshness: from a 2xx to the event readable on HDFS, during a steady run.

The collector and one lander (``python -m stream``, default rotation) run on the SUT core
against a fresh topic and folder; vegeta offers a steady background load. A prober sends one
event of its own every PROBE_EVERY_S and notes when its 2xx arrives; a poller lists the
published Parquet files every POLL_S and notes when each probe's event_id first appears in one.
Freshness = first seen - acknowledged, for every probe (the poll adds at most POLL_S).
"""

from __future__ import annotations

import http.client
import io
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
import pyarrow.parquet as pq
from hdfs import InsecureClient

from infra.endpoints import Endpoints
from peers import http_collectors as hc
from peers.tools import REPO, free_port, median, pinned, stop, wait_port

PROBE_EVERY_S = 0.5
POLL_S = 1.0
HEADERS = {"Content-Type": "application/json", "X-Write-Key": "dev"}


def measure(
    vegeta: Path, folder: Path, endpoints: Endpoints, load_eps: float, seconds: float
) -> dict:
    """One steady run of ``seconds`` at ``load_eps``; returns p50/p99 of the probes (s)."""
    run = uuid.uuid4().hex[:8]
    topic, root = f"bench.peers.fresh-{run}", f"/surge/bench/fresh-{run}/events"
    kafka = endpoints.kafka_bootstrap
    hc.recreate_topics(kafka, [topic, f"{topic}.dlq"], 6)
    port = free_port()
    collector = hc.start_surge(port, kafka, topic)
    lander = subprocess.Popen(
        pinned([sys.executable, "-m", "stream"]),
        cwd=REPO,
        env=os.environ
        | {
            "SURGE_LANDER_BOOTSTRAP": kafka,
            "SURGE_LANDER_TOPIC": topic,
            "SURGE_LANDER_DLQ_TOPIC": f"{topic}.dlq",
            "SURGE_LANDER_GROUP": f"fresh-{run}",
            "SURGE_LANDER_STORAGE_URL": endpoints.webhdfs_url,
            "SURGE_LANDER_HDFS_USER": endpoints.hdfs_user,
            "SURGE_LANDER_ROOT": root,
            "SURGE_LANDER_METRICS_PORT": "0",
            "SURGE_LANDER_LOG_LEVEL": "WARNING",
        },
    )
    client = InsecureClient(endpoints.webhdfs_url, user=endpoints.hdfs_user)
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    try:
        wait_port(port)
        hc._wait_ready(port)
        targets, _ = hc.write_targets(folder, port)
        done = threading.Event()
        prober = threading.Thread(target=_probe, args=(port, acked, done), daemon=True)
        prober.start()
        load = subprocess.Popen(
            hc.on_other_cores(
                [
                    str(vegeta),
                    "attack",
                    "-format=json",
                    f"-targets={targets}",
                    f"-rate={max(1, round(load_eps / hc.EVENTS_PER_REQUEST))}/1s",
                    f"-duration={seconds}s",
                    "-output=/dev/null",
                ]
            )
        )
        deadline = time.monotonic() + seconds
        known: set[str] = set()
        while time.monotonic() < deadline:
            _poll(client, root, known, seen)
            time.sleep(POLL_S)
        done.set()
        load.wait()
        prober.join()
        # The probes of the last seconds are published at the lander's next rotation.
        wait_until = time.monotonic() + 150
        while set(acked) - set(seen) and time.monotonic() < wait_until:
            _poll(client, root, known, seen)
            time.sleep(POLL_S)
    finally:
        stop(collector)
        stop(lander, 60)
        client.delete(root.rsplit("/", 1)[0], recursive=True)
        hc.delete_topics(kafka, [topic, f"{topic}.dlq"])
    lags = sorted(seen[i] - acked[i] for i in acked if i in seen)
    result = {
        "load_eps": load_eps,
        "seconds": seconds,
        "probes": len(acked),
        "probes_seen": len(lags),
        "p50_s": median(lags),
        "p99_s": lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else None,
        "max_s": lags[-1] if lags else None,
    }
    print(
        f"  freshness at {load_eps:,.0f} ev/s: {len(lags)}/{len(acked)} probes seen, p50 "
        f"{result['p50_s'] or 0:.1f} s, p99 {result['p99_s'] or 0:.1f} s, max "
        f"{result['max_s'] or 0:.1f} s",
        flush=True,
    )
    return result


def _probe(port: int, acked: dict[str, float], done: threading.Event) -> None:
    from loadgen import events

    template = next(iter(events(1, seed=23)))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not done.is_set():
        event_id = str(uuid.uuid4())
        body = orjson.dumps({"sent_at": _now_iso(), "events": [{**template, "event_id": event_id}]})
        try:
            conn.request("POST", "/v1/batch", body, HEADERS)
            answer = conn.getresponse()
            answer.read()
            if 200 <= answer.status < 300:
                acked[event_id] = time.time()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        done.wait(PROBE_EVERY_S)
    conn.close()


def _now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _poll(client: InsecureClient, root: str, known: set[str], seen: dict[str, float]) -> None:
    """Read the event ids of every published file not read yet."""
    try:
        walk = list(client.walk(root))
    except Exception:  # the root appears with the first publish
        return
    now = time.time()
    for path, _, files in walk:
        if "/dt=" not in path or "/hr=" not in path:
            continue  # temp files and logs: not published
        for name in files:
            full = f"{path}/{name}"
            if not name.endswith(".parquet") or full in known:
                continue
            known.add(full)
            with client.read(full) as reader:
                table = pq.read_table(io.BytesIO(reader.read()), columns=["event_id"])
            for event_id in table.column("event_id").to_pylist():
                seen.setdefault(event_id, now)
