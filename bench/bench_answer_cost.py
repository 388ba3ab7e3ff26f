"""What one answer costs a collector worker, by path (a benchmark, not a test).

    python bench/bench_answer_cost.py [--seconds 6] [--connections 32]

Issue 4 asks that shed answers stay cheap under 3x overload. This measures the CPU time of
one worker process per answer, closed loop (each connection sends its next request when the
answer is in), with the benchmark's batches of 20 events:

- shed: a collector whose admission admits one request at a time, so nearly every answer is
  a shed 503: the prebuilt one written before aiohttp parses the request (shedding.py);
- shed in aiohttp: the same with ``shed_before_http`` off: the 503 of the request path,
  through aiohttp's parser, request, middlewares and response (public API only);
- unauthorized: an unknown write key, the 401 refused before the body is read;
- healthz: GET /healthz, the least a request costs through aiohttp;
- raw 503: a bare asyncio protocol on the same loop (uvloop when installed) that skips each
  request's body and writes a canned 503: what shedding could cost below aiohttp's request
  handling.

Needs the stack's Kafka (the collector is only ready with it). Divide a path's cost into the
CPU a worker has to see how many answers per second shedding alone would take.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_collector import REPO, bootstrap_servers, build_requests, free_port, wait_ready

_BODY = b'{"error":"collector overloaded: retry later","code":"overloaded"}'
RAW_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class Raw503(asyncio.Protocol):
    """Answers every request of a keep-alive connection with RAW_503, skipping its body."""

    def connection_made(self, transport):
        self.transport, self.buffer, self.body_left = transport, b"", 0

    def data_received(self, data: bytes) -> None:
        data = self.buffer + data
        self.buffer = b""
        while data:
            if self.body_left:
                skipped = min(self.body_left, len(data))
                self.body_left -= skipped
                data = data[skipped:]
                if not self.body_left:
                    self.transport.write(RAW_503)
                continue
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            at = data.find(b"Content-Length: ", 0, end)
            self.body_left = int(data[at + 16 : data.find(b"\r\n", at)]) if at >= 0 else 0
            data = data[end + 4 :]
            if not self.body_left:
                self.transport.write(RAW_503)


async def serve_raw(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Raw503, "127.0.0.1", port)
    await server.serve_forever()


async def drive(port: int, requests: list[bytes], connections: int, seconds: float) -> dict:
    """Closed loop for `seconds`; the count of answers by status."""
    statuses: collections.Counter = collections.Counter()
    stop = time.monotonic() + seconds

    async def connection(first: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = first
        while time.monotonic() < stop:
            writer.write(requests[n % len(requests)])
            n += connections
            head = await reader.readuntil(b"\r\n\r\n")
            statuses[head[9:12].decode()] += 1
            at = head.lower().find(b"content-length:")
            if at >= 0:
                await reader.readexactly(int(head[at + 15 : head.find(b"\r\n", at)]))
        writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    return dict(statuses)


def measure(label: str, server: subprocess.Popen, port: int, requests: list[bytes], args) -> None:
    processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(True)]
    cpu = sum(sum(p.cpu_times()[:2]) for p in processes)
    started = time.monotonic()
    statuses = asyncio.run(drive(port, requests, args.connections, args.seconds))
    elapsed = time.monotonic() - started
    cpu = sum(sum(p.cpu_times()[:2]) for p in processes) - cpu
    answers = sum(statuses.values())
    print(
        f"{label:13s} {answers / elapsed:8,.0f} answers/s  {cpu / answers * 1e6:6.1f} us CPU "
        f"per answer  {statuses}",
        flush=True,
    )


def run_collector(label: str, port: int, requests: list[bytes], args, **env: str) -> None:
    environ = os.environ | {
        "SURGE_COLLECTOR_PORT": str(port),
        "SURGE_COLLECTOR_WORKERS": "1",
        "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": bootstrap_servers(),
        "SURGE_COLLECTOR_LOG_LEVEL": "WARNING",
        **env,
    }
    server = subprocess.Popen([sys.executable, "-m", "collector"], cwd=REPO, env=environ)
    try:
        asyncio.run(wait_ready(port))
        measure(label, server, port, requests, args)
    finally:
        server.terminate()
        server.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--raw-server", type=int, help=argparse.SUPPRESS)  # the raw 503 server
    args = parser.parse_args()
    if args.raw_server:
        import uvloop  # the collector's workers' loop

        uvloop.run(serve_raw(args.raw_server))
        return 0
    port = free_port()
    batches = build_requests(port)
    one_at_a_time = {"SURGE_COLLECTOR_MAX_IN_FLIGHT": "1"}
    run_collector("shed", port, batches, args, **one_at_a_time)
    # The same through aiohttp's request handling, as with public API only (issue 18 item 6).
    off = {"SURGE_COLLECTOR_SHED_BEFORE_HTTP": "false"}
    run_collector("shed in aiohttp", port, batches, args, **one_at_a_time, **off)
    unknown = [b.replace(b"X-Write-Key: dev", b"X-Write-Key: none") for b in batches]
    run_collector("unauthorized", port, unknown, args)
    health = [b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]
    run_collector("healthz", port, health, args)
    raw = subprocess.Popen([sys.executable, __file__, "--raw-server", str(port)], cwd=REPO)
    try:
        time.sleep(1.5)  # listening by then
        measure("raw 503", raw, port, batches, args)
    finally:
        raw.terminate()
        raw.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
