"""3. The HDFS NameNode stopped for ~30 s mid-run and started again; then the DataNode.

Claims: the collector does not notice (it never touches HDFS); the lander keeps its records,
retries its publish with backoff and neither skips nor doubles anything; it publishes again on
its own once HDFS is back. Recovery: from HDFS healthy again to every partition published.
"""

from __future__ import annotations

import time

from chaos.outcome import Row
from chaos.run import Context, ScenarioRun
from chaos.services import log_text
from chaos.stack_faults import DATANODE, NAMENODE


def run(ctx: Context) -> Row:
    s = ctx.settings
    outage_s = s.scaled(30, 10)
    with ScenarioRun("hdfs_outage", ctx) as run:
        row = run.row
        run.start(load_s=s.scaled(110, 40))
        recoveries = []
        for service in (NAMENODE, DATANODE):
            time.sleep(s.scaled(12, 4))
            ctx.faults.stop(service)
            time.sleep(outage_s)
            row.check(
                f"lander alive through the {service} outage",
                bool(run.services.live_landers()),
                "the lander exited",
            )
            restart_s = ctx.faults.restore()
            back_at = time.monotonic()
            recovered = run.wait_progress(back_at)
            recoveries.append(recovered)
            after = "never" if recovered is None else f"after {recovered:.1f} s"
            row.notes.append(
                f"{service} stopped {outage_s:.0f} s, restart {restart_s:.1f} s, "
                f"lander publishing again {after}"
            )
        row.check("lander published again after each outage", None not in recoveries)
        if None not in recoveries:
            row.recovery_s = round(max(recoveries), 2)
        ok = run.probe.between(run.probe.posts, 0, time.monotonic())
        # The collector never touches HDFS; a restarting JVM on 2 cores may still slow a
        # delivery past its deadline: a 503 with Retry-After is then the right answer.
        refused = [p for p in ok if p.status != 200]
        row.notes.append(f"probe POSTs not 200: {[(p.status, p.retry_after) for p in refused]}")
        row.check(
            "collector unaffected (every probe POST 200 or a 503 with Retry-After)",
            all(p.status == 503 and p.retry_after for p in refused),
        )
        lander_logs = "".join(log_text(p) for p in run.services.landers)
        row.check("the lander said it was retrying", "retrying" in lander_logs)
    return run.row
