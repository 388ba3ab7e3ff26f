"""The collector's pre-fork supervisor (``python -m collector``) beside gunicorn's aiohttp worker
(issue 18 item 11): throughput, a SIGTERM drain, a killed worker replaced (a benchmark).

    python bench/bench_supervisor.py [--eps 20000] [--seconds 8] [--workers 2]

Each server runs the same app and settings (SURGE_COLLECTOR_* from the environment), unpinned,
with ``--workers`` workers. For each, open loop (bench_collector's generator):
1. ``--eps`` for ``--seconds``: events/s acknowledged, 2xx p50/p99, connections per worker;
2. half the load, SIGTERM to the master in the middle: requests dropped (on a connection
   closed before their answer), and how long the master took to exit;
3. the same load, SIGKILL to one worker: how long until a new worker answers, requests
   dropped (those the killed worker held: unavoidable).
Gunicorn serves through ``app`` below (its aiohttp worker awaits it): aiohttp's own site, so
without collector/shedding.py in front.
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

import psutil
from bench_collector import (
    EVENTS_PER_REQUEST,
    REPO,
    Pool,
    bootstrap_servers,
    build_requests,
    free_port,
    run_phase,
    wait_ready,
)


async def app():
    """Gunicorn's app: the collector's, with the worker's runner options (no auto-decompress)."""
    from aiohttp import web

    from collector.app import create_app, runner_kwargs
    from collector.settings import CollectorSettings

    settings = CollectorSettings()
    return web.AppRunner(create_app(settings), **runner_kwargs(settings))


def _start(kind: str, port: int, workers: int) -> subprocess.Popen:
    env = os.environ | {
        "SURGE_COLLECTOR_PORT": str(port),
        "SURGE_COLLECTOR_WORKERS": str(workers),
        "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": bootstrap_servers(),
        "SURGE_COLLECTOR_LOG_LEVEL": "WARNING",
        "PYTHONPATH": f"{REPO}:{REPO / 'bench'}",
    }
    if kind == "prefork":
        return subprocess.Popen([sys.executable, "-m", "collector"], cwd=REPO, env=env)
    gunicorn = [
        sys.executable, "-m", "gunicorn", "bench_supervisor:app",
        "--worker-class", "aiohttp.GunicornUVLoopWebWorker",
        "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--reuse-port",
        "--graceful-timeout", "10", "--log-level", "warning",
    ]  # fmt: skip
    metrics = f"/tmp/surge-gunicorn-metrics-{port}"
    os.makedirs(metrics, exist_ok=True)
    return subprocess.Popen(gunicorn, cwd=REPO, env=env | {"PROMETHEUS_MULTIPROC_DIR": metrics})


def _workers(proc: subprocess.Popen) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(proc.pid).children():
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" not in " ".join(child.cmdline()):  # multiprocessing's own
                found.append(child)
    return found


async def _until(predicate, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    return None


async def measure(kind: str, args: argparse.Namespace) -> dict:
    out: dict = {}
    rate = args.eps / EVENTS_PER_REQUEST
    # 1. throughput
    port = free_port()
    proc = _start(kind, port, args.workers)
    try:
        await wait_ready(port)
        procs = [psutil.Process(proc.pid), *_workers(proc)]
        pool = Pool(port, build_requests(port))
        await run_phase(pool, rate / 2, 3, procs)  # warm
        r = await run_phase(pool, rate, args.seconds, procs)
        per_worker = []
        for worker in _workers(proc):
            with contextlib.suppress(psutil.Error):
                per_worker.append(sum(1 for c in worker.net_connections() if c.raddr))
        out["throughput"] = {
            "acked_eps": round(r["acked_eps"]),
            "ok_ms": r["ok_ms"],
            "statuses": r["statuses"],
            "connections_per_worker": per_worker,
            "cpu_us_per_event": r["cpu_us_per_event"]["collector"],
        }
        # 3. a killed worker replaced (the server stays up: kill one, measure, go on)
        victim = _workers(proc)[0]
        before = {w.pid for w in _workers(proc)}
        task = asyncio.create_task(run_phase(pool, rate / 2, 4, procs))
        await asyncio.sleep(1)
        victim.kill()
        replaced = await _until(
            lambda: (
                len({w.pid for w in _workers(proc)} - before) >= 1
                and len(_workers(proc)) == args.workers
            ),
            10,
        )
        r = await task
        out["killed_worker"] = {
            "replaced_after_s": replaced and round(replaced, 2),
            "statuses": r["statuses"],
            "dropped": r["dropped"],
        }
        # 2. SIGTERM drain, under load
        task = asyncio.create_task(run_phase(pool, rate / 2, 3, procs, drain_s=3))
        await asyncio.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        exited = await _until(lambda: proc.poll() is not None, 30)
        r = await task
        out["sigterm"] = {
            "exit_after_s": exited and round(exited, 2),
            "exit_code": proc.poll(),
            "statuses": r["statuses"],
            # Requests on a connection that closed before their answer; those sent after
            # the port closed are refused connections, a balancer's cue to go elsewhere.
            "dropped": r["dropped"],
        }
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
    return out


async def main(args: argparse.Namespace) -> None:
    for round_ in range(args.rounds):
        for kind in ("prefork", "gunicorn"):
            print(f"round {round_} {kind}: {await measure(kind, args)}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eps", type=float, default=20_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    asyncio.run(main(args))
