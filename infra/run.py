"""``make run``: a Double-11 flash sale played end to end on real services, reconciled, drawn.

    1. the stack: the local one (started if down) or an external one (SURGE_KAFKA_BOOTSTRAP...)
    2. a namespace of the run's own (infra/pipeline.py says why): topics surge.runs.<id>[.dlq],
       lander group surge-lander.runs.<id>, HDFS /surge/runs/<id>/events and .../reports
    3. the collector (all workers) and the lander as real processes, logs in runs/<id>/
    4. the load generator's flash-sale profile against the collector, a progress line a second
    5. until the lander has published every record; the services are stopped
    6. every Spark report of each business day the sale's events fell on
    7. the summary, the reconciliation (ids, then report totals against what was sent), the
       dashboard (runs/<id>/dashboard.html); PASS, or FAIL with what is missing or doubled

Everything is left in place for spark-submit and dashboards: the topics, the HDFS folders, and
runs/<id>/ with the logs, loadgen.json (the load generator's results with its per-second
timeline), acked_ids.txt, summary.txt and the dashboard.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from infra import dashboard
from infra.endpoints import Endpoints
from infra.figures import SaleFigures, business_days, read_reports, sale_figures
from infra.pipeline import Namespace, create_topics, free_port, services, wait_ready
from infra.reconcile import Reconciliation, read_landed, reconcile
from infra.sent import Expected, Sales, by_status, compare, expected_sales
from infra.settings import REPO_ROOT, StackSettings
from infra.smoke import hdfs_client
from infra.stack import LocalStack
from loadgen import FlashSale, LoadConfig, Results, run

MARKS = "1000000,5000000,10000000"


@dataclass(frozen=True)
class Options:
    duration_s: float
    base_events_per_s: float  # before the sale; the rush is peak_factor times this
    peak_factor: float
    tz: str
    marks: list[Decimal]
    runs_dir: Path
    run_id: str
    rotate_age_s: float = 5.0  # the lander's: the last records are on HDFS soon after the load


@dataclass(frozen=True)
class Outcome:
    """What a run found: what tests assert on, and what decides PASS."""

    run_id: str
    namespace: Namespace
    results: dict
    reconciliation: Reconciliation
    figures: SaleFigures
    expected: Expected
    problems: list[str]  # report totals against what was sent and landed
    dashboard: Path
    out_dir: Path
    landed_files: int

    @property
    def passed(self) -> bool:
        return self.reconciliation.passed and not self.problems


def say(message: str = "") -> None:
    print(message, flush=True)


def profile(options: Options) -> FlashSale:
    """The sale: a quiet tenth of the run, then the rush, halving its excess every sixth."""
    return FlashSale(
        base_events_per_s=options.base_events_per_s,
        peak_factor=options.peak_factor,
        sale_start_s=options.duration_s / 10,
        half_life_s=max(options.duration_s / 6, 1.0),
        duration_s=options.duration_s,
    )


class LanderLag:
    """The lander's lag (records in Kafka not yet published), read from its /metrics every
    second in a thread of its own: the load generator's loop must never wait on it."""

    def __init__(self, url: str | None):
        self.url, self.value = url, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> LanderLag:
        if self.url:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            try:
                with urllib.request.urlopen(self.url, timeout=1) as answer:
                    text = answer.read().decode()
            except OSError:
                continue
            lag = [
                sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "surge_lander_lag"
                for sample in family.samples
            ]
            self.value = int(sum(lag)) if lag else None


def progress(lag: LanderLag) -> Callable[[dict], None]:
    def line(row: dict) -> None:
        p99 = row["ok_p99_ms"]
        say(
            f"  [{row['second'] + 1:>4} s] offered {row['offered_events']:>7,} ev/s"
            f"  accepted {row['acked_events']:>7,} ev/s  shed {row['shed']:>5,} req"
            f"  p99 {'-' if p99 is None else f'{p99:,.0f}'} ms"
            f"  lander lag {'-' if lag.value is None else f'{lag.value:,}'}"
        )

    return line


async def wait_landed(
    bootstrap: str, namespace: Namespace, timeout_s: float = 180
) -> dict[int, int]:
    """Until the lander's committed offsets reach the end of every partition of the run's
    topic; its end offsets. The lander commits only what it has published to HDFS."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        (topic,) = await admin.describe_topics([namespace.topic])
        partitions = [TopicPartition(namespace.topic, p["partition"]) for p in topic["partitions"]]
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while True:
            committed = await admin.list_consumer_group_offsets(namespace.group)
            lag = sum(
                end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
            )
            if lag <= 0:
                return {tp.partition: end for tp, end in ends.items()}
            if time.monotonic() > deadline:
                raise RuntimeError(f"lander still {lag} records behind after {timeout_s:.0f} s")
            await asyncio.sleep(1)
    finally:
        await consumer.stop()
        await admin.close()


def run_reports(endpoints: Endpoints, namespace: Namespace, day: str, tz: str, log: Path) -> None:
    """Every report of ``day`` with Spark, reading and writing only the run's roots."""
    fs = endpoints.hdfs_default_fs
    cmd = [sys.executable, "-m", "batch.reports", "--date", day, "--tz", tz]
    cmd += ["--master", "local[2]", "--events", f"{fs}{namespace.events_root}"]
    cmd += ["--reports", f"{fs}{namespace.reports_root}"]
    env = os.environ | {"HADOOP_USER_NAME": endpoints.hdfs_user}
    with log.open("ab") as out:
        done = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        tail = log.read_text(errors="replace").splitlines()[-20:]
        raise RuntimeError(f"the reports of {day} failed; end of {log}:\n" + "\n".join(tail))


def play(endpoints: Endpoints, options: Options) -> Outcome:
    namespace = Namespace.of_run(options.run_id)
    out = options.runs_dir / options.run_id
    out.mkdir(parents=True, exist_ok=True)
    sale = profile(options)
    say(
        f"run {options.run_id}: a flash sale of {options.duration_s:.0f} s, "
        f"{sale.base_events_per_s:,.0f} events/s before the rush and "
        f"{sale.base_events_per_s * sale.peak_factor:,.0f} at its peak"
    )
    say(f"  namespace: topic {namespace.topic}, lander group {namespace.group}")
    fs = endpoints.hdfs_default_fs
    say(f"             {fs}{namespace.events_root} and {namespace.reports_root}")
    partitions = StackSettings().topic_partitions
    asyncio.run(create_topics(endpoints.kafka_bootstrap, namespace, partitions))
    lander_env = {"SURGE_LANDER_ROTATE_AGE_S": str(options.rotate_age_s)}
    with services(endpoints, namespace, free_port(), free_port(), out, lander_env) as running:
        for name, path in running.logs.items():
            say(f"  {name} log: {path}")
        asyncio.run(wait_ready(running.collector_url))
        say(f"collector ready on {running.collector_url}; the sale starts")
        config = LoadConfig(url=running.collector_url, profile=sale, progress=False)
        with LanderLag(running.lander_metrics_url) as lag:
            results: Results = run(config, on_second=progress(lag))
        results.write_json(out / "loadgen.json")
        results.write_acked_ids(out / "acked_ids.txt")
        say("load generator done; waiting for the lander to publish everything")
        started = time.monotonic()
        ends = asyncio.run(wait_landed(endpoints.kafka_bootstrap, namespace))
        say(f"  every record of {namespace.topic} published ({time.monotonic() - started:.0f} s)")
    say("collector and lander stopped")

    client = hdfs_client(endpoints)
    landed = read_landed(client, namespace.events_root, namespace.topic)
    reconciliation = reconcile(results.acked_ids(), landed, ends)
    if landed.first_event is None or landed.last_event is None:
        raise RuntimeError(f"nothing landed under {namespace.events_root}: see {out}")
    days = business_days(landed.first_event, landed.last_event, options.tz)
    for day in days:
        started = time.monotonic()
        run_reports(endpoints, namespace, day.isoformat(), options.tz, out / "reports.log")
        say(f"reports of {day} ({options.tz}) written ({time.monotonic() - started:.0f} s)")
    reports = read_reports(client, namespace.reports_root, days)
    figures = sale_figures(reports, options.tz, options.marks)
    expected = expected_sales(results, (event_id for _, event_id in landed.keys))
    problems = compare(
        expected,
        Sales(figures.gmv, figures.paid_orders),
        figures.events,
        reconciliation.landed_distinct,
    )
    loaded = results.as_dict()
    verdict = "PASS" if reconciliation.passed and not problems else "FAIL"
    title = f"Surge flash sale, run {options.run_id}"
    page = dashboard.build(reports, loaded, figures, options.tz, title, verdict)
    path = dashboard.write(out / "dashboard.html", page)
    return Outcome(
        options.run_id,
        namespace,
        loaded,
        reconciliation,
        figures,
        expected,
        problems,
        path,
        out,
        len(landed.files),
    )


def stack_endpoints() -> Endpoints:
    """An external stack (SURGE_KAFKA_BOOTSTRAP...), else one answering at the local addresses
    (maybe another clone's), else the local stack started here and left running."""
    local = LocalStack()
    return Endpoints.from_env() or (local.endpoints if local.is_healthy() else local.up())


def summary(outcome: Outcome, tz: str) -> str:
    r, f, e = outcome.results, outcome.figures, outcome.expected
    requests, events = r["requests"], r["events"]
    answers = by_status(r)
    rec = outcome.reconciliation
    days = ", ".join(d.isoformat() for d in f.days)
    lines = [
        f"== summary of run {outcome.run_id} ==",
        f"requests  {requests['sent']:,} sent ({requests['retries']:,} retries): "
        f"{answers['accepted']:,} accepted, {answers['shed']:,} shed (429/503), "
        f"{answers['refused']:,} refused, {sum(requests['failures'].values()):,} failed "
        f"(timeouts, lost connections), {requests['gave_up']:,} given up",
        f"events    {events['offered']:,} sent: {events['acked']:,} accepted, "
        f"{events['rejected']:,} rejected (to the DLQ), {events['refused']:,} in refused requests, "
        f"{events['gave_up']:,} given up",
        f"latency   2xx p50 {r['latency_ms']['ok'].get('p50', '-')} ms, "
        f"p99 {r['latency_ms']['ok'].get('p99', '-')} ms",
        f"landed    {rec.landed_rows:,} rows in {outcome.landed_files:,} files: "
        f"{rec.landed_distinct:,} distinct events, {rec.duplicated:,} landed twice (retries)",
        f"sales     {days} ({tz}): paid GMV ¥{f.gmv:,.2f}, {f.paid_orders:,} paid orders, "
        f"{f.buyers:,} buyers, AOV ¥{f.aov or 0:,.2f}, refunds ¥{f.refund_amount:,.2f}",
    ]
    if f.peak_traffic:
        lines.append(
            f"peak      {f.peak_traffic.local} with {f.peak_traffic.value:,.0f} page views"
            + (
                f"; most GMV in {f.peak_sales.local} (¥{f.peak_sales.value:,.2f})"
                if f.peak_sales
                else ""
            )
        )
    lines.append(
        "top       "
        + "; ".join(
            f"{p.rank}. {p.sku} ({p.category}) ¥{p.revenue:,.2f}, {p.units:,} units" for p in f.top
        )
    )
    lines.append(
        "GMV marks "
        + ", ".join(
            f"¥{mark:,.0f} at {minute}" if minute else f"¥{mark:,.0f} not reached"
            for mark, minute in f.marks.items()
        )
    )
    lines.append("reconciliation")
    lines.append("  ids:     " + rec.summary().replace("\n", "\n           "))
    total = e.total
    lines.append(
        f"  reports: paid GMV ¥{f.gmv:,.2f} and {f.paid_orders:,} paid orders; the load generator "
        f"sent ¥{total.gmv:,.2f} and {total.paid_orders:,} that landed (acknowledged: "
        f"¥{e.acked.gmv:,.2f}, {e.acked.paid_orders:,}; landed without an answer: "
        f"¥{e.landed_unacked.gmv:,.2f}, {e.landed_unacked.paid_orders:,}); "
        f"{f.events:,} events counted = {rec.landed_distinct:,} distinct landed"
        if not outcome.problems
        else "  reports: FAIL: " + "; ".join(outcome.problems)
    )
    lines.append(f"dashboard {outcome.dashboard}")
    lines.append("PASS" if outcome.passed else "FAIL")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=120, help="seconds of load (120)")
    parser.add_argument(
        "--rate",
        type=float,
        default=1000,
        help="events/s before the rush (1000); the rush peaks at 10 times it",
    )
    parser.add_argument("--peak-factor", type=float, default=10, help="the rush / the base (10)")
    parser.add_argument("--tz", default="Asia/Shanghai", help="business time zone")
    parser.add_argument("--gmv-marks", default=MARKS, help=f"cumulative GMV marks ({MARKS})")
    parser.add_argument("--runs-dir", type=Path, default=REPO_ROOT / "runs")
    parser.add_argument("--run-id", help="default: the UTC start, YYYYMMDD-HHMMSS")
    args = parser.parse_args(argv)
    options = Options(
        duration_s=args.duration,
        base_events_per_s=args.rate,
        peak_factor=args.peak_factor,
        tz=args.tz,
        marks=[Decimal(m) for m in args.gmv_marks.split(",") if m],
        runs_dir=args.runs_dir,
        run_id=args.run_id or datetime.now(UTC).strftime("%Y%m%d-%H%M%S"),
    )
    outcome = play(stack_endpoints(), options)
    text = summary(outcome, options.tz)
    (outcome.out_dir / "summary.txt").write_text(text + "\n", encoding="utf-8")
    say(text)
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
