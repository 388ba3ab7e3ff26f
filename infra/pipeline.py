"""The collector and the lander as real processes, pointed at one namespace of the stack.

``python -m infra.pipeline`` (``make serve``) keeps them running on the default namespace
(``surge.events`` -> ``/surge/events``) until Ctrl-C; ``make run`` (infra/run.py) starts them on a
namespace of its own for one run.

Why a run gets its own topic, consumer group and HDFS roots rather than a filter on shared data:
the events carry no run id, and the reconciliation checks the lander's exactly once over a
topic's whole offset range (no gap from offset 0 to the end): a fresh topic makes "this run's
records" exactly "the topic's records". A fresh group on ``surge.events`` would re-land all of
its history, and a shared events root would let earlier runs into the reports' figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.endpoints import Endpoints
from infra.settings import StackSettings
from infra.stack import LocalStack


@dataclass(frozen=True)
class Namespace:
    """Where one pipeline reads and writes: Kafka topics, lander group, HDFS roots."""

    topic: str
    dlq_topic: str
    group: str
    events_root: str
    reports_root: str

    @classmethod
    def default(cls) -> Namespace:
        """The services' own defaults (collector/settings.py, stream/settings.py)."""
        return cls(
            "surge.events", "surge.events.dlq", "surge-lander", "/surge/events", "/surge/reports"
        )

    @classmethod
    def of_run(cls, run_id: str) -> Namespace:
        return cls(
            topic=f"surge.runs.{run_id}",
            dlq_topic=f"surge.runs.{run_id}.dlq",
            group=f"surge-lander.runs.{run_id}",
            events_root=f"/surge/runs/{run_id}/events",
            reports_root=f"/surge/runs/{run_id}/reports",
        )


async def create_topics(bootstrap: str, namespace: Namespace, partitions: int) -> None:
    """The namespace's topics, if missing (the broker creates none by itself)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in (namespace.topic, namespace.dlq_topic) if t not in existing]
        if missing:
            await admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
    finally:
        await admin.close()


def free_port() -> int:
    """A port nobody listens on now (the collector's workers must all bind the same one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Services:
    collector_url: str
    lander_metrics_url: str | None
    logs: dict[str, Path]  # service -> its log file (None: the terminal)


@contextlib.contextmanager
def services(
    endpoints: Endpoints,
    namespace: Namespace,
    port: int,
    lander_metrics_port: int,
    log_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Services]:
    """The collector (all its workers) and the lander as real processes; SIGTERM and wait on
    the way out. With ``log_dir`` their output goes to ``<log_dir>/<service>.log``."""
    env = os.environ | {
        "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap,
        "SURGE_COLLECTOR_PORT": str(port),
        "SURGE_COLLECTOR_TOPIC": namespace.topic,
        "SURGE_COLLECTOR_DLQ_TOPIC": namespace.dlq_topic,
        "SURGE_LANDER_BOOTSTRAP": endpoints.kafka_bootstrap,
        "SURGE_LANDER_TOPIC": namespace.topic,
        "SURGE_LANDER_DLQ_TOPIC": namespace.dlq_topic,
        "SURGE_LANDER_GROUP": namespace.group,
        "SURGE_LANDER_ROOT": namespace.events_root,
        "SURGE_LANDER_STORAGE_URL": endpoints.webhdfs_url,
        "SURGE_LANDER_HDFS_USER": endpoints.hdfs_user,
        "SURGE_LANDER_METRICS_PORT": str(lander_metrics_port),
    }
    env |= extra_env or {}
    logs: dict[str, Path] = {}
    procs: list[subprocess.Popen] = []
    with contextlib.ExitStack() as files:
        for name, module in (("collector", "collector"), ("lander", "stream")):
            out = None
            if log_dir is not None:
                log_dir.mkdir(parents=True, exist_ok=True)
                logs[name] = log_dir / f"{name}.log"
                out = files.enter_context(logs[name].open("ab"))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT
                )
            )
        try:
            metrics = f"http://127.0.0.1:{lander_metrics_port}/metrics"
            yield Services(
                f"http://127.0.0.1:{port}", metrics if lander_metrics_port else None, logs
            )
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=90)


async def wait_ready(url: str, timeout_s: float = 60) -> None:
    """Until the collector says it is ready (Kafka reachable)."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.pipeline", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="collector port (8080)")
    parser.add_argument("--metrics-port", type=int, default=9108, help="lander metrics (9108)")
    args = parser.parse_args(argv)
    endpoints = Endpoints.from_env() or LocalStack().up()
    namespace = Namespace.default()
    partitions = StackSettings().topic_partitions
    asyncio.run(create_topics(endpoints.kafka_bootstrap, namespace, partitions))
    with services(endpoints, namespace, args.port, args.metrics_port) as running:
        asyncio.run(wait_ready(running.collector_url))
        print(
            f"collector on {running.collector_url} (write key `dev`), lander into "
            f"{namespace.events_root}, metrics on {running.collector_url}/metrics and "
            f"{running.lander_metrics_url}; Ctrl-C stops",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
