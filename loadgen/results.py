"""What a run measured: counts, HDR latency histograms, a per-second timeline, acked ids.

Latencies are in microseconds in the histograms (1 µs to 10 min, 3 significant digits) and in
milliseconds in the results. Each answer is recorded once, in the histogram of its second;
every second's histograms are then added into the run's totals.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hdrh.histogram import HdrHistogram

from loadgen.batches import Batch, lap_id

PERCENTILES = (50, 90, 99, 99.9)
_MAX_US = 600_000_000


def histogram() -> HdrHistogram:
    return HdrHistogram(1, _MAX_US, 3)


def percentiles_ms(hist: HdrHistogram) -> dict[str, float]:
    if hist.get_total_count() == 0:
        return {"count": 0}
    out: dict[str, float] = {"count": hist.get_total_count()}
    for p in PERCENTILES:
        out[f"p{p:g}"] = round(hist.get_value_at_percentile(p) / 1000, 3)
    out["max"] = round(hist.get_max_value() / 1000, 3)
    return out


@dataclass
class Second:
    """One second of the run, by scheduled time for what was offered and by arrival else."""

    offered_requests: int = 0
    offered_events: int = 0
    sent: int = 0  # requests written, retries included
    acked_events: int = 0
    shed: int = 0  # 429 and 503 answers
    errors: int = 0  # other non-2xx answers, timeouts, lost connections
    ok: HdrHistogram = field(default_factory=histogram)
    shed_latency: HdrHistogram = field(default_factory=histogram)
    lag: HdrHistogram = field(default_factory=histogram)

    def row(self, second: int) -> dict[str, Any]:
        ok = self.ok
        return {
            "second": second,
            "offered_requests": self.offered_requests,
            "offered_events": self.offered_events,
            "sent_requests": self.sent,
            "acked_events": self.acked_events,
            "shed": self.shed,
            "errors": self.errors,
            "ok_p50_ms": round(ok.get_value_at_percentile(50) / 1000, 3)
            if ok.total_count
            else None,
            "ok_p99_ms": round(ok.get_value_at_percentile(99) / 1000, 3)
            if ok.total_count
            else None,
            "send_lag_p99_ms": round(self.lag.get_value_at_percentile(99) / 1000, 3)
            if self.lag.total_count
            else None,
        }


@dataclass
class Tally:
    """The run's running counts, updated by the runner on every answer."""

    offered_requests: int = 0
    offered_events: int = 0
    sent: int = 0
    retries: int = 0
    statuses: Counter = field(default_factory=Counter)  # answers by HTTP status
    failures: Counter = field(default_factory=Counter)  # "timeout", "connection"
    acked_requests: int = 0
    acked_events: int = 0
    rejected_events: int = 0  # invalid events of 2xx answers
    refused_events: int = 0  # events of requests answered with a final non-2xx (400...)
    gave_up_requests: int = 0  # still shed or failing after max_attempts
    gave_up_events: int = 0
    unreadable_2xx: int = 0  # 2xx answers whose body did not say what was accepted
    ok: HdrHistogram = field(default_factory=histogram)
    shed_latency: HdrHistogram = field(default_factory=histogram)
    lag: HdrHistogram = field(default_factory=histogram)
    delivered_after_retry: HdrHistogram = field(default_factory=histogram)


@dataclass
class Results:
    """A finished run. ``acked_ids()`` are exactly the event ids that 2xx answers accepted."""

    config: dict[str, Any]
    started_at: str
    duration_s: float
    cpu_s: float  # the generator's CPU time (all threads) from the first send to the end
    tally: Tally
    timeline: list[dict[str, Any]]
    unfinished: int  # batches still waiting for an answer or a retry when the run ended
    connect_errors: int
    batches: list[Batch] = field(repr=False)
    # (batch index, lap, indexes the answer rejected) of every 2xx answer
    acked: list[tuple[int, int, frozenset[int]]] = field(repr=False)

    def acked_ids(self) -> Iterator[str]:
        for index, lap, rejected in self.acked:
            ids = self.batches[index].event_ids
            for i, event_id in enumerate(ids):
                if i not in rejected:
                    yield lap_id(event_id, lap)

    def write_acked_ids(self, path: str | Path) -> int:
        count = 0
        with open(path, "w", encoding="ascii") as out:
            for event_id in self.acked_ids():
                out.write(event_id + "\n")
                count += 1
        return count

    def as_dict(self) -> dict[str, Any]:
        t = self.tally
        seconds = max(self.duration_s, 1e-9)
        return {
            "config": self.config,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "generator_cpu_s": round(self.cpu_s, 3),
            "requests": {
                "offered": t.offered_requests,
                "sent": t.sent,
                "retries": t.retries,
                "acked": t.acked_requests,
                "by_status": {str(k): v for k, v in sorted(t.statuses.items())},
                "failures": dict(t.failures),
                "connect_errors": self.connect_errors,
                "gave_up": t.gave_up_requests,
                "unfinished": self.unfinished,
                "unreadable_2xx": t.unreadable_2xx,
            },
            "events": {
                "offered": t.offered_events,
                "acked": t.acked_events,
                "rejected": t.rejected_events,
                "refused": t.refused_events,
                "gave_up": t.gave_up_events,
                "acked_per_s": round(t.acked_events / seconds, 1),
            },
            "latency_ms": {
                "ok": percentiles_ms(t.ok),
                "shed": percentiles_ms(t.shed_latency),
                "delivered_after_retry": percentiles_ms(t.delivered_after_retry),
                "send_lag": percentiles_ms(t.lag),
            },
            "timeline": self.timeline,
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=1) + "\n", encoding="utf-8")

    def summary(self) -> str:
        d = self.as_dict()
        r, e, lat = d["requests"], d["events"], d["latency_ms"]
        return "\n".join(
            [
                f"{d['duration_s']:.1f} s: {r['offered']} requests offered "
                f"({e['offered']} events), {r['sent']} sent ({r['retries']} retries), "
                f"statuses {r['by_status']}, failures {r['failures']}, "
                f"gave up on {r['gave_up']}, unfinished {r['unfinished']}",
                f"events: {e['acked']} acked ({e['acked_per_s']:,.0f}/s), {e['rejected']} rejected "
                f"by index, {e['refused']} in refused requests, {e['gave_up']} given up",
                f"2xx latency ms {_short(lat['ok'])}",
                f"shed latency ms {_short(lat['shed'])}",
                f"delivered after retry ms {_short(lat['delivered_after_retry'])}",
                f"send lag ms {_short(lat['send_lag'])}",
            ]
        )


def progress_line(
    elapsed: int, second: Second, tally: Tally, in_flight: int, out: TextIO = sys.stderr
) -> None:
    errors = {str(k): v for k, v in sorted(tally.statuses.items()) if not 200 <= k < 300}
    errors |= dict(tally.failures)
    row = second.row(elapsed)
    print(
        f"[{elapsed:>4} s] offered {second.offered_events:>7,} ev/s  sent {second.sent:>6,} req/s  "
        f"acked {second.acked_events:>7,} ev/s  shed {second.shed:>5,}  "
        f"p50 {row['ok_p50_ms']} ms  p99 {row['ok_p99_ms']} ms  in flight {in_flight}  "
        f"errors so far {errors or 0}",
        file=out,
        flush=True,
    )


def _short(p: dict[str, float]) -> str:
    if not p.get("count"):
        return "-"
    return " ".join(f"{k} {v}" for k, v in p.items() if k != "count") + f" (n={p['count']})"
