"""Open-loop load against a real ``python -m collector`` (not a test).

    python bench/bench_collector.py [--phase-s 8] [--workers 2] [--max-eps N] [--gzip]
    python bench/bench_collector.py --sink       # the Kafka sink alone, see sink_bench()
    python bench/bench_collector.py --path       # the request path alone, see path_bench()

The collector's settings come from the environment as usual (SURGE_COLLECTOR_KAFKA_CLIENT,
SURGE_COLLECTOR_COMPRESSION, SURGE_COLLECTOR_LINGER_MS...).

Starts the collector on a free port against the stack's Kafka (SURGE_KAFKA_BOOTSTRAP, else the
local stack's address), then drives it open loop: requests leave on a fixed schedule whatever
the answers, each a batch of 20 events of about 400 bytes. Latency is counted from the
scheduled send time (no coordinated omission): a request that waited for a free connection
waited. Phases:

0. warm-up (not counted): WARM_EPS for --warm-s seconds;
1. capacity: offered rates stepped up until goodput stops following (less than 95 % of the
   offered rate, or p99 over 200 ms, two steps in a row); max = the best goodput;
2. 70 % of max; 3. 3x max.

After the capacity phase, the CPU per event at max, summed over the collector, the broker and
the load generator, gives the most the machine could take with all its cores busy
(bench/stack_cpu.py). ``--path`` times the request path alone in this process (parse,
validate, enrich, records; no HTTP, no Kafka) and ``--sink`` the Kafka sink alone: their sum is
a floor for the collector plus the broker.

For each: events/s acknowledged (2xx), statuses, latency percentiles of 2xx answers and of the
503s (shed), the peak RSS of the collector's processes, the cores used and the CPU time per
acknowledged event of the collector (all its processes and threads), of the broker (the stack's
own Kafka JVM only) and of the load generator, and the load average. On a machine shared with
other jobs, events/s and latencies follow their load; CPU per event much less so: compare
that. The load generator is one Python process on uvloop with pre-built requests (and a
parser of answers that costs a few finds); it competes with the collector and the broker for
the same cores, and says how much it took. Two figures tell its share of the latencies: the
503s' latency "after send" (from the request's write, so without any wait for a free
connection), and its own loop lag (how late its 1-ms sleeps wake: an answer read that late
looks that much slower). The 503s to the first request of a new connection are also counted
apart: at 3x on 2026-11-25, 52 of 201 such 503s took over 0.5 s, and none of the 29,245 on
connections already in use did.

Measured on the 2-core machine shared with other engineers' Spark jobs (load average 5-9), the
collector with 2 workers, after the work of issue 4's follow-up (confluent-kafka, lz4, linger
10 ms, hot path), against the same bench on the first version (aiokafka, gzip-9, linger 5 ms),
run in turns at the same offered rates (``--max-eps 8000 --phase-s 10``):

    offered   collector CPU/event (before -> after)   acked events/s (before -> after)
     5,600    111-124 -> 59-73 us                     5,600 -> 5,600 (p99 86-223 -> 55-62 ms)
    24,000     90-92  -> 39-45 us                     9,100-10,700 -> 19,600-22,600

``--sink`` (64 callers, linger 10 ms, 6 s, twice each, load average 6.6-7.2):

    aiokafka gzip    ~21,000 events/s   client 26.3 us CPU/event   broker 2.5-2.8 us
    aiokafka lz4     ~28,000            client 19.9                broker 1.3-1.4
    confluent gzip   ~25,600            client 19.0                broker 3.8-4.1
    confluent lz4    ~75,000            client 3.8-4.1             broker 1.9-2.5   <- default
    confluent zstd   ~71,000            client 4.2-5.1             broker 1.6-2.6
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psutil
from stack_cpu import KAFKA, CpuMeter, describe, stack_jvms  # bench/ is sys.path[0]

import loadgen

REPO = Path(__file__).resolve().parents[1]
EVENTS_PER_REQUEST = 20
WARM_EPS = 10_000  # events/s of the warm-up
MAX_CONNECTIONS = 1024
DISTINCT_BODIES = 500


def _bodies() -> list[bytes]:
    """Batch bodies of the shared flash-sale generator (loadgen), every event valid."""
    config = loadgen.LoadConfig(events_per_request=EVENTS_PER_REQUEST, invalid_event_share=0.0)
    return [b.body for b in loadgen.rendered(config, DISTINCT_BODIES, _now_ms())]


def _requests(port: int, gzipped: bool = False) -> list[bytes]:
    """Pre-built HTTP requests (gzip bodies too, when asked): building them during the run
    would cost the generator's CPU."""
    out = []
    for body in _bodies():
        encoding = ""
        if gzipped:
            packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            body = packer.compress(body) + packer.flush()
            encoding = "Content-Encoding: gzip\r\n"
        head = (
            f"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nX-Write-Key: dev\r\n{encoding}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


class Conn(asyncio.Protocol):
    """One keep-alive connection; one request at a time; a minimal response parser."""

    def __init__(self, pool: Pool):
        self.pool = pool
        self.transport = None
        self.buffer = b""
        self.scheduled = 0.0
        self.sent = 0.0
        self.requests = 0  # sent on this connection
        self.busy = False

    def connection_made(self, transport):
        self.transport = transport
        self.pool.idle.append(self)
        self.pool.kick()

    def send(self, request: bytes, scheduled: float) -> None:
        self.busy, self.scheduled = True, scheduled
        self.sent = self.pool.loop.time()
        self.requests += 1
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        # The generator's own CPU counts against the collector's on a small machine: the
        # common case (one whole answer per read, aiohttp's header spelling) costs a few finds.
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            start = buffer.find(b"\r\nContent-Length: ", 0, end)
            if start >= 0:
                length = int(buffer[start + 18 : buffer.find(b"\r\n", start + 18)])
            else:
                length = _content_length(buffer[:end])
            if len(buffer) < end + 4 + length:
                break
            status = int(buffer[9:12])
            close = buffer.find(b"onnection: close", 0, end) >= 0  # [Cc]onnection
            # A shed answer written before aiohttp (collector/shedding.py) has no Server header.
            early = status == 503 and buffer.find(b"\r\nServer:", 0, end) < 0
            buffer = buffer[end + 4 + length :]
            self.busy = False
            self.pool.answered(self, status, close, early)
        self.buffer = buffer

    def connection_lost(self, exc):
        self.pool.lost(self)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            return int(line[15:])
    return 0


@dataclass
class Stats:
    statuses: dict[int, int] = field(default_factory=dict)
    ok_latency: list[float] = field(default_factory=list)
    shed_latency: list[float] = field(default_factory=list)
    # From the request's write, not its schedule: without the wait for a free connection.
    shed_after_send: list[float] = field(default_factory=list)
    # 503s to the first request of a new connection (where the tail of the 503s was, at 3x).
    shed_first: list[float] = field(default_factory=list)
    shed_early: int = 0  # 503s answered before aiohttp parsed the request
    errors: int = 0


class Pool:
    def __init__(self, port: int, requests: list[bytes]):
        self.port = port
        self.requests = requests
        self.idle: list[Conn] = []
        self.conns: set[Conn] = set()
        self.opening = 0
        self.backlog: deque[float] = deque()  # scheduled times waiting for a connection
        self.stats = Stats()
        self.loop = asyncio.get_running_loop()
        self.n = 0

    def submit(self, scheduled: float) -> None:
        self.backlog.append(scheduled)
        self.kick()

    def kick(self) -> None:
        while self.backlog and self.idle:
            conn = self.idle.pop()
            self.n += 1
            conn.send(self.requests[self.n % len(self.requests)], self.backlog.popleft())
        missing = len(self.backlog) - self.opening
        while missing > 0 and len(self.conns) + self.opening < MAX_CONNECTIONS:
            self.opening += 1
            missing -= 1
            self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            _, conn = await self.loop.create_connection(lambda: Conn(self), "127.0.0.1", self.port)
            self.conns.add(conn)
        except OSError:
            self.stats.errors += 1
        finally:
            self.opening -= 1

    def answered(self, conn: Conn, status: int, close: bool, early: bool = False) -> None:
        now = self.loop.time()
        latency = now - conn.scheduled
        s = self.stats
        s.statuses[status] = s.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            s.ok_latency.append(latency)
        elif status == 503:
            s.shed_latency.append(latency)
            s.shed_after_send.append(now - conn.sent)
            if conn.requests == 1:
                s.shed_first.append(latency)
            s.shed_early += early
        if close:
            conn.transport.close()
        else:
            self.idle.append(conn)
            self.kick()

    def lost(self, conn: Conn) -> None:
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.busy:
            self.stats.errors += 1
            conn.busy = False
        self.kick()


async def run_phase(pool: Pool, requests_per_s: float, seconds: float, procs) -> dict:
    meter = CpuMeter(
        {"collector": procs, "kafka": stack_jvms(KAFKA), "loadgen": [psutil.Process()]}
    )
    meter.start()
    pool.stats = Stats()
    pool.backlog.clear()
    loop = asyncio.get_running_loop()
    start = loop.time()
    interval = 1.0 / requests_per_s
    lags: list[float] = []  # how late this loop's 1-ms sleeps wake: its own share of latency
    sent = 0
    peak_rss = 0
    next_rss = start
    while (now := loop.time()) < start + seconds:
        due = int((now - start) / interval) + 1
        while sent < due:
            pool.submit(start + sent * interval)
            sent += 1
        if now >= next_rss:
            peak_rss = max(peak_rss, _rss(procs))
            next_rss = now + 0.5
        asleep = loop.time()
        await asyncio.sleep(0.001)
        lags.append(loop.time() - asleep - 0.001)
    await asyncio.sleep(1.5)  # let the answers of the last requests come in
    spent = meter.spent()
    cores = {k: round(v / (seconds + 1.5), 2) for k, v in spent.items()}
    s = pool.stats
    ok = sum(c for st, c in s.statuses.items() if 200 <= st < 300)
    answered = sum(s.statuses.values())
    acked_events = max(1, ok * EVENTS_PER_REQUEST)
    return {
        # CPU per event acknowledged (the generator's: per request answered), robust to the
        # machine's other load where events/s are not.
        "cpu_us_per_event": {k: round(v / acked_events * 1e6, 1) for k, v in spent.items()},
        "loadgen_us_per_request": round(spent["loadgen"] / max(1, answered) * 1e6, 1),
        "load_avg": round(os.getloadavg()[0], 2),
        "offered_eps": requests_per_s * EVENTS_PER_REQUEST,
        "acked_eps": ok * EVENTS_PER_REQUEST / seconds,
        "statuses": dict(sorted(s.statuses.items())),
        "unanswered": sent - sum(s.statuses.values()),
        "errors": s.errors,
        "ok_ms": _percentiles(s.ok_latency),
        "shed_ms": _percentiles(s.shed_latency),
        "shed_after_send_ms": _percentiles(s.shed_after_send),
        "shed_first": (len(s.shed_first), _percentiles(s.shed_first)),
        "shed_early": s.shed_early,
        "loadgen_lag_ms": _percentiles(lags),
        "peak_rss_mb": round(peak_rss / 2**20),
        "connections": len(pool.conns),
        "cores": cores,
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)
    pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)  # noqa: E731
    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": pick(1.0)}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _rss(procs: list[psutil.Process]) -> int:
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _bootstrap() -> str:
    if os.environ.get("SURGE_KAFKA_BOOTSTRAP"):
        return os.environ["SURGE_KAFKA_BOOTSTRAP"]
    from infra.kafka import bootstrap
    from infra.settings import StackSettings

    return bootstrap(StackSettings())


def _start_collector(port: int, workers: int) -> subprocess.Popen:
    env = os.environ | {
        "SURGE_COLLECTOR_PORT": str(port),
        "SURGE_COLLECTOR_WORKERS": str(workers),
        "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": _bootstrap(),
        "SURGE_COLLECTOR_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "collector"], cwd=REPO, env=env)


async def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if (await reader.read())[9:12] == b"200":
                writer.close()
                return
            writer.close()
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the collector did not get ready")


def _line(name: str, r: dict) -> str:
    return (
        f"{name:<14} offered {r['offered_eps']:>8,.0f} ev/s  acked {r['acked_eps']:>8,.0f} ev/s  "
        f"2xx {r['ok_ms']}  503 {r['shed_ms']} (after send {r['shed_after_send_ms']}; "
        f"first on a new connection: {r['shed_first'][0]}, {r['shed_first'][1]})  "
        f"statuses {r['statuses']} "
        f"(503 before aiohttp: {r['shed_early']})  "
        f"unanswered {r['unanswered']}  errors {r['errors']}  rss {r['peak_rss_mb']} MB  "
        f"conns {r['connections']}  cores used {r['cores']}  "
        f"cpu us/event {r['cpu_us_per_event']}  "
        f"loadgen us/request {r['loadgen_us_per_request']}  "
        f"loadgen loop lag {r['loadgen_lag_ms']}  load avg {r['load_avg']}"
    )


async def main(args: argparse.Namespace) -> None:
    port = _free_port()
    proc = _start_collector(port, args.workers)
    try:
        await _wait_ready(port)
        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        pool = Pool(port, _requests(port, args.gzip))
        # Warm up (not counted): connections, the producer, and the broker's JIT. A broker
        # started just before took 206 us of CPU per event at 5,000 events/s (7 us once warm),
        # and the capacity phase that followed stopped at 18,600 events/s while the same
        # collector acked 36,855 in its 3x phase.
        warm = await run_phase(pool, WARM_EPS / EVENTS_PER_REQUEST, args.warm_s, procs)
        print(_line("warm-up", warm), flush=True)

        best, at_best = 0.0, None
        if args.max_eps:
            best = args.max_eps
        else:
            failed = 0
            for eps in args.steps:
                r = await run_phase(pool, eps / EVENTS_PER_REQUEST, args.step_s, procs)
                print(_line("capacity", r), flush=True)
                if r["acked_eps"] > best:
                    best, at_best = r["acked_eps"], r
                # Two failing steps in a row end it: on a shared machine one step can fall in
                # another job's burst.
                if r["acked_eps"] < 0.95 * eps or r["ok_ms"].get("p99", 1e9) > 200:
                    failed += 1
                    if failed == 2:
                        break
                else:
                    failed = 0
        print(f"max sustained: {best:,.0f} events/s acknowledged", flush=True)
        if at_best:  # what the whole run would reach with every core its own
            print(f"at max: {describe(at_best['cpu_us_per_event'])}", flush=True)
        for name, factor in (("70% of max", 0.7), ("3x max", 3.0)):
            r = await run_phase(pool, best * factor / EVENTS_PER_REQUEST, args.phase_s, procs)
            print(_line(name, r), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def sink_bench(args: argparse.Namespace) -> None:
    """The sink alone against the broker: ``--concurrency`` callers of ``send_batch`` in a
    closed loop, each with 20 pre-built records of enriched events; CPU of this process (all
    its threads: librdkafka's too) and of the broker, per event acknowledged."""
    from collector.kafka_sink import new_sink
    from collector.metrics import Metrics
    from collector.records import Record
    from collector.settings import CollectorSettings

    settings = CollectorSettings(workers=1, kafka_bootstrap=_bootstrap())
    sink = new_sink(settings, Metrics())
    await sink.start()
    deadline = time.monotonic() + 30
    while not sink.is_healthy():
        if time.monotonic() > deadline:
            raise SystemExit("Kafka not available")
        await asyncio.sleep(0.1)
    server = {
        "event_time": "2026-11-10T16:00:03.120Z",
        "received_at": "2026-11-10T16:00:04.000Z",
        "ip": "127.0.0.1",
        "user_agent": "bench/1.0",
        "app_id": "dev",
        "schema_version": 1,
    }
    batches = []
    for body in _bodies():
        events = [event | server for event in orjson.loads(body)["events"]]
        batches.append([Record(e["device_id"].encode(), orjson.dumps(e)) for e in events])
    done = errors = 0
    stop = False

    async def caller(k: int) -> None:
        nonlocal done, errors
        while not stop:
            try:
                await sink.send_batch(batches[k % len(batches)], ())
                done += 1
            except Exception:
                errors += 1
                await asyncio.sleep(0.01)
            k += 7

    tasks = [asyncio.create_task(caller(k)) for k in range(args.concurrency)]
    await asyncio.sleep(2)  # warm up
    meter = CpuMeter({"client": [psutil.Process()], "broker": stack_jvms(KAFKA)})
    meter.start()
    before = (done, time.monotonic())
    await asyncio.sleep(args.phase_s)
    events = (done - before[0]) * EVENTS_PER_REQUEST
    seconds = time.monotonic() - before[1]
    per_event = meter.per_event(events)
    stop = True
    await asyncio.gather(*tasks)
    await sink.close(5)
    print(
        f"sink {settings.kafka_client} compression={settings.compression} "
        f"level={settings.compression_level} linger={settings.linger_ms} ms "
        f"concurrency={args.concurrency}: {events / seconds:,.0f} events/s, "
        f"errors {errors}, load avg {os.getloadavg()[0]:.2f}\n{describe(per_event)}",
        flush=True,
    )


def path_bench(args: argparse.Namespace) -> None:
    """The request path's work per event in this process, without HTTP and without Kafka: the
    bench's own bodies parsed, checked, validated, enriched and made into Kafka records by
    collector/ingest.py's functions, one core. The collector cannot take less CPU per event."""
    from types import SimpleNamespace

    from collector import enrich, ingest, parse
    from collector.metrics import Metrics
    from collector.settings import CollectorSettings
    from collector.validation import load_validators

    settings = CollectorSettings(workers=1)
    validator, envelopes = load_validators()
    c = SimpleNamespace(
        settings=settings, validator=validator, envelopes=envelopes, metrics=Metrics()
    )
    bodies = [request.split(b"\r\n\r\n", 1)[1] for request in _requests(0)]

    def one_pass() -> int:
        events = 0
        for raw in bodies:
            envelope = ingest._parse(raw, False, c)
            facts = enrich.RequestFacts.at(
                time.time_ns() // 1_000_000,
                app_id="dev",
                ip="127.0.0.1",
                user_agent="bench/1.0",
                sent_at=envelope.sent_at,
                max_future_ms=int(settings.max_future_skew_s * 1000),
            )
            parse.check_event_sizes(envelope.events, len(raw), settings.max_event_bytes)
            events += len(ingest._process(envelope.events, facts, "dev", c).records)
        return events

    one_pass()  # warm
    for _ in range(3):
        started, events = time.process_time(), 0
        while time.process_time() - started < args.phase_s / 3:
            events += one_pass()
        us = (time.process_time() - started) / events * 1e6
        print(f"request path alone: {us:.1f} us CPU/event ({events:,} events)", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--phase-s", type=float, default=8.0)
    parser.add_argument("--step-s", type=float, default=4.0)
    parser.add_argument("--warm-s", type=float, default=8.0, help="warm-up before the phases")
    parser.add_argument(
        "--steps",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[5_000, 10_000, 15_000, 20_000, 30_000, 40_000, 60_000, 80_000, 100_000],
        help="offered events/s of the capacity phase",
    )
    parser.add_argument("--max-eps", type=float, default=0, help="skip the capacity phase")
    parser.add_argument("--gzip", action="store_true", help="gzip request bodies (pre-built)")
    parser.add_argument(
        "--sink",
        action="store_true",
        help="micro-bench of the Kafka sink alone (SURGE_COLLECTOR_KAFKA_CLIENT, _COMPRESSION...)",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="--sink: concurrent callers")
    parser.add_argument("--path", action="store_true", help="the request path alone, one core")
    args = parser.parse_args()
    if args.path:
        sys.exit(path_bench(args))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(sink_bench(args) if args.sink else main(args))
