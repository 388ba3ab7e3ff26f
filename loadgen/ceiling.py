"""The generator's own ceiling: the load it can offer on schedule against a server that does
nothing (`loadgen.trivial_server`), so that figures against the collector measure the collector.

    python -m loadgen --self-test --events-per-s 80000 --duration-s 10

The server runs in its own process; where the machine has two cores or more each process gets
its own (the generator the first, the server the second). Besides the rates, the CPU time the
generator spent per request answered gives the rate one core of it could carry at most, which a
machine busy with other work does not change much.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import psutil

from loadgen.runner import run
from loadgen.settings import LoadConfig


def self_test(config: LoadConfig) -> int:
    figures = measure(config)
    print(
        "\n".join(f"{name}: {value}" for name, value in figures.items()),
        flush=True,
    )
    return 0


def measure(config: LoadConfig) -> dict[str, Any]:
    """Runs ``config`` against a trivial server; the generator's figures."""
    port = _free_port()
    cores = sorted(os.sched_getaffinity(0))
    server = subprocess.Popen([sys.executable, "-m", "loadgen.trivial_server", "--port", str(port)])
    try:
        if len(cores) > 1:
            os.sched_setaffinity(server.pid, {cores[1]})
            os.sched_setaffinity(0, {cores[0]})
        _wait_ready(port)
        server_proc = psutil.Process(server.pid)
        server_cpu = server_proc.cpu_times()
        results = run(config.model_copy(update={"url": f"http://127.0.0.1:{port}"}))
        after = server_proc.cpu_times()
        server_s = after.user + after.system - server_cpu.user - server_cpu.system
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cores)
        server.terminate()
        server.wait(timeout=10)
    d = results.as_dict()
    answered = sum(d["requests"]["by_status"].values()) or 1
    per_request_us = results.cpu_s / answered * 1e6
    epr = config.events_per_request
    return {
        "offered events/s": round(d["events"]["offered"] / config.profile.duration_s),
        "acked events/s": d["events"]["acked_per_s"],
        "requests answered": answered,
        "send lag ms": d["latency_ms"]["send_lag"],
        "2xx latency ms": d["latency_ms"]["ok"],
        "generator CPU us/request": round(per_request_us, 1),
        "trivial server CPU us/request": round(server_s / answered * 1e6, 1),
        "generator one-core ceiling events/s": round(1e6 / per_request_us * epr),
        "load average": round(os.getloadavg()[0], 2),
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
