"""1. The Kafka broker SIGKILLed mid-load, started again after ~15 s.

Claims: during the outage every POST is refused with 503 (or 429) within the delivery deadline
and says ``Retry-After``; /readyz is false; once the broker is back the collector accepts again
within 10 s, without a restart. The load's clients retry refused batches with the same ids: an
id the collector refused must not be in Kafka already, or the retry doubles it (measured as
``duplicated``: the reports remove those, and ``left_after_dedup`` must stay 0).
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections import Counter

import pyarrow.parquet as pq
from hdfs import InsecureClient

from chaos.outcome import Row
from chaos.run import Context, ScenarioRun
from collector.settings import CollectorSettings
from infra.reconcile import KEYS

RECOVERY_LIMIT_S = 10.0
DETECT_S = 2.0  # the collector learns of the outage from a failed delivery or its probe


def run(ctx: Context) -> Row:
    s = ctx.settings
    before_s, outage_s = s.scaled(15, 6), s.scaled(15, 8)
    deadline_s = CollectorSettings().delivery_timeout_s
    with ScenarioRun("broker_kill", ctx) as run:
        row = run.row
        run.start(load_s=s.scaled(60, 28))
        collector_pid = run.services.collector.pid
        time.sleep(before_s)
        killed_at, killed_wall = time.monotonic(), time.time()
        ctx.faults.sigkill("kafka")
        time.sleep(outage_s)
        restarting_at = time.monotonic()
        ctx.faults.restore()
        back_at = time.monotonic()
        back_wall = time.time()
        run.after_reconcile.append(lambda: _when_doubled(run, killed_wall, back_wall))
        down_s, restart_s = back_at - killed_at, back_at - restarting_at
        row.notes.append(f"broker down {down_s:.1f} s (its restart took {restart_s:.1f} s)")

        probe = run.probe
        recovered = probe.recovery(back_at)
        row.recovery_s = None if recovered is None else round(recovered, 2)

        outage = probe.between(probe.posts, killed_at + DETECT_S, restarting_at)
        refused = [p for p in outage if p.status in (503, 429)]
        row.check("probe POSTs during the outage", len(outage) >= 5, f"only {len(outage)}")
        row.check(
            "refused with 503/429 during the outage",
            len(refused) == len(outage),
            f"statuses {sorted({p.status for p in outage} - {503, 429}, key=str)}",
        )
        slowest = max((p.latency_s for p in refused), default=0.0)
        row.check(
            "refusals within the delivery deadline",
            slowest <= deadline_s + 0.5,
            f"slowest {slowest:.2f} s against {deadline_s} s",
        )
        row.check(
            "every refusal says Retry-After",
            all(p.retry_after and p.retry_after.isdigit() for p in refused),
        )
        readyz = probe.between(probe.ready, killed_at + DETECT_S, restarting_at)
        row.check(
            "/readyz false during the outage",
            bool(readyz) and all(r.status == 503 for r in readyz),
            f"statuses {sorted({r.status for r in readyz}, key=str)}",
        )
        row.check(
            f"accepting again within {RECOVERY_LIMIT_S:.0f} s of the broker's return",
            row.recovery_s is not None and row.recovery_s <= RECOVERY_LIMIT_S,
            f"recovery {row.recovery_s} s",
        )
        row.check(
            "collector not restarted",
            run.services.collector.pid == collector_pid and run.services.collector.poll() is None,
        )
    return run.row


def _when_doubled(run: ScenarioRun, killed: float, back: float) -> None:
    """When the collector received the first copy of each event landed twice: before the kill
    (in flight when the broker died), during the outage, or after the broker's return."""
    doubled = {key for key, n in run.landed.keys.items() if n > 1}
    if not doubled:
        return
    client = InsecureClient(run.ctx.endpoints.webhdfs_url, user=run.ctx.endpoints.hdfs_user)
    first: dict[tuple[str, str], float] = {}
    for f in run.landed.files:
        with client.read(f.path) as reader:
            table = pq.read_table(io.BytesIO(reader.read()), columns=[*KEYS, "received_at"])
        for device, event, received in zip(
            *(table[c].to_pylist() for c in table.column_names), strict=True
        ):
            if (device, event) in doubled:
                at = received.replace(tzinfo=received.tzinfo or dt.UTC).timestamp()
                first[(device, event)] = min(first.get((device, event), at), at)
    phases = Counter(
        "before the kill" if at < killed else "during the outage" if at < back else "after"
        for at in first.values()
    )
    run.row.notes.append(
        "landed twice, by when the first copy was received: "
        + ", ".join(f"{n} {phase}" for phase, n in phases.items())
    )
