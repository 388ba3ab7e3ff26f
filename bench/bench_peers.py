"""Surge against real peers and ceilings, side by side in one run (`make bench`): see BENCHMARKS.md.

    python bench/bench_peers.py                  # everything at the issue's sizes (~25 min)
    python bench/bench_peers.py --quick          # the same comparisons, small (~8 min)
    python bench/bench_peers.py --only collector --runs 3 --phase-s 6

Every figure is a ratio against a peer or a ceiling measured in the same run, the median of
--runs runs, with the system under test alone on one core (bench/peers/tools.py SUT_CORE) and
the broker, HDFS and the load generator on the other(s). Each run of each comparison takes the
shared stack's lock for itself (do not wrap this command in `flock`): others' tests get the
stack between them. Writes bench/results/<timestamp>.json (machine, commit, every run) and
prints the table BENCHMARKS.md shows.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peers import freshness, http_collectors, landers, reports, results
from peers.tools import median, ratio, shared_stack_jvms, stack_lock, stack_off_the_sut_core
from stack_cpu import KAFKA  # bench/ is sys.path[0]

from infra.endpoints import Endpoints
from infra.jars import classpath
from infra.kafka import bootstrap
from infra.settings import StackSettings

SECTIONS = ("collector", "lander", "reports", "freshness")


def collector_section(args: argparse.Namespace, folder: Path) -> dict:
    from peers.tools import go_peer

    settings = StackSettings()
    kafka = bootstrap(settings)
    go_peer("vegeta"), go_peer("benthos")  # built once, outside the lock
    vegeta = go_peer("vegeta")
    tools_cp = classpath(settings.jar_cache, "kafka-tools")
    topics = {name: f"bench.peers.{name}" for name in (*http_collectors.SERVERS, "producer")}
    all_topics = [*topics.values(), f"{topics['surge']}.dlq"]
    runs = []
    for n in range(args.runs):
        print(f"collector run {n + 1}/{args.runs}", flush=True)
        run: dict = {}
        with stack_lock(not args.no_lock), stack_off_the_sut_core(shared_stack_jvms(KAFKA)):
            http_collectors.recreate_topics(kafka, all_topics, settings.topic_partitions)
            try:
                # Each run starts with another server: a slower minute of the shared machine
                # does not always fall on the same one.
                names = list(http_collectors.SERVERS)
                for name in names[n % len(names) :] + names[: n % len(names)]:
                    run[name] = http_collectors.measure_server(
                        name, vegeta, folder, kafka, topics[name], args.phase_s
                    )
                run["producer_performance"] = http_collectors.producer_performance(
                    tools_cp, folder, kafka, topics["producer"], args.producer_records
                )
            finally:
                http_collectors.delete_topics(kafka, all_topics)
        runs.append(run)
    return {"runs": runs, "medians": _collector_medians(runs)}


def _collector_medians(runs: list[dict]) -> dict:
    def m(*path: str) -> float | None:
        values = []
        for run in runs:
            node = run
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            values.append(node)
        return median(values)

    out = {}
    for name in ("surge", "benthos"):
        out[name] = {"max_eps": m(name, "max", "acked_eps")}
        out[name]["cpu_us_per_event"] = m(name, "max", "cpu_us_per_event")
        for share in (50, 70, 100):
            for figure in ("p50_ms", "p99_ms", "acked_eps"):
                out[name][f"at_{share}_{figure}"] = m(name, f"at_{share}", figure)
    out["aiohttp_empty"] = {"max_eps": m("aiohttp_empty", "max", "acked_eps")}
    out["aiohttp_empty"]["cpu_us_per_event"] = m("aiohttp_empty", "max", "cpu_us_per_event")
    out["producer_performance"] = {
        "records_per_s": m("producer_performance", "records_per_s"),
        "cpu_us_per_event": m("producer_performance", "cpu_us_per_event"),
    }
    return out


def collector_rows(c: dict) -> list[tuple]:
    s, b = c["surge"], c["benthos"]
    e, p = c["aiohttp_empty"], c["producer_performance"]
    rows = [
        ("collector events/s per core", s["max_eps"], "Benthos", b["max_eps"], ">= 1.2", 1.2),
        ("collector CPU µs/event", s["cpu_us_per_event"], "Benthos", b["cpu_us_per_event"],
         "<= 15 µs", None),
    ]  # fmt: skip
    for share in (50, 70, 100):
        rows.append(
            (f"collector p99 ms at {share} % of own max", s[f"at_{share}_p99_ms"], "Benthos",
             b[f"at_{share}_p99_ms"], "", None)
        )  # fmt: skip
    rows += [
        ("collector events/s vs empty aiohttp", s["max_eps"], "aiohttp+uvloop empty",
         e["max_eps"], "", None),
        ("collector events/s vs Kafka producer", s["max_eps"], "ProducerPerformance",
         p["records_per_s"], "", None),
        ("collector CPU µs/event vs producer", s["cpu_us_per_event"], "ProducerPerformance",
         p["cpu_us_per_event"], "", None),
    ]  # fmt: skip
    return rows


def freshness_section(args: argparse.Namespace, folder: Path, surge_max: float | None) -> dict:
    """One steady run at half the collector's max (when measured): the probes give the spread."""
    from peers.tools import go_peer

    endpoints = Endpoints.of_local(StackSettings())
    load = (surge_max or 20_000) * 0.5
    with stack_lock(not args.no_lock):
        return freshness.measure(go_peer("vegeta"), folder, endpoints, load, args.fresh_s)


def freshness_rows(f: dict) -> list[tuple]:
    return [
        ("freshness p50 s (2xx -> on HDFS)", f["p50_s"], "", None, "", None),
        ("freshness p99 s (2xx -> on HDFS)", f["p99_s"], "", None, "<= 60 s", None),
    ]


def print_table(rows: list[tuple]) -> str:
    lines = [
        "| figure | Surge | peer | peer's | Surge / peer | goal |",
        "|---|---:|---|---:|---:|---|",
    ]
    for figure, ours, peer, theirs, goal, _ in rows:
        r = ratio(ours, theirs)
        lines.append(
            f"| {figure} | {_fmt(ours)} | {peer} | {_fmt(theirs)} | "
            f"{'' if r is None else f'{r:.2f}'} | {goal} |"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short phases")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="these sections")
    parser.add_argument("--runs", type=int, default=3, help="runs per comparison (median)")
    parser.add_argument("--phase-s", type=float, help="seconds per load phase (default 8, 4)")
    parser.add_argument("--producer-records", type=int, help="ProducerPerformance's records")
    parser.add_argument("--lander-events", type=int, help="pre-filled topic (default 5 M)")
    parser.add_argument("--report-events", type=int, help="reports' data (default 10 M)")
    parser.add_argument("--fresh-s", type=float, help="steady run of the freshness (90, 60)")
    parser.add_argument(
        "--merge",
        type=Path,
        action="append",
        help="take the sections not run now from this earlier results file (the last given wins)",
    )
    parser.add_argument(
        "--table-only", action="store_true", help="measure nothing: the table of the --merge files"
    )
    parser.add_argument("--no-lock", action="store_true", help="the caller holds the lock")
    args = parser.parse_args()
    # A SIGTERM (timeout, Ctrl-C's cousin) unwinds like an exception: topics, folders and
    # the stack's core affinity are put back by the `finally` blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    quick = args.quick
    args.phase_s = args.phase_s or (4 if quick else 8)
    args.producer_records = args.producer_records or (500_000 if quick else 2_000_000)
    args.lander_events = args.lander_events or (500_000 if quick else 5_000_000)
    args.report_events = args.report_events or (1_000_000 if quick else 10_000_000)
    args.fresh_s = args.fresh_s or (60 if quick else 90)
    sections = [] if args.table_only else args.only or list(SECTIONS)

    out = {
        "machine": results.machine(),
        **results.commit(),
        "options": vars(args),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "started_utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
    }
    rows: dict[str, list[tuple]] = {}

    def freshness_of(a: argparse.Namespace, folder: Path) -> dict:
        surge = out.get("collector", {}).get("medians", {}).get("surge", {})
        return freshness_section(a, folder, surge.get("max_eps"))

    steps = {
        "collector": (collector_section, lambda s: collector_rows(s["medians"])),
        "lander": (landers.section, lambda s: landers.rows(s["medians"])),
        "freshness": (freshness_of, freshness_rows),
        "reports": (lambda a, _: reports.section(a), reports.rows),
    }
    with tempfile.TemporaryDirectory(prefix="surge-peers-") as tmp:
        for name in SECTIONS:
            measure, to_rows = steps[name]
            if name not in sections:
                continue
            try:
                out[name] = measure(args, Path(tmp))
                rows[name] = to_rows(out[name])
            except Exception as error:  # one peer's failure leaves the others' figures
                traceback.print_exc()
                out[name] = {"error": repr(error)}
            results.save(out, partial=True)  # what is measured so far survives an interruption
    for name in SECTIONS:  # read at the end: an earlier run may have finished meanwhile
        for path in [] if name in sections else reversed(args.merge or []):
            earlier = json.loads(path.read_text()).get(name)
            if earlier and "error" not in earlier:
                out[name] = {**earlier, "merged_from": str(path)}
                rows[name] = steps[name][1](out[name])
                break
    out["table"] = print_table([row for name in SECTIONS for row in rows.get(name, [])])
    saved = results.save(out)
    results.update_benchmarks_md(out, saved)
    print(f"results: {saved} (and the table in BENCHMARKS.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
