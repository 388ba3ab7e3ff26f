"""6. HDFS refuses a publish: a namespace quota on the folder the lander publishes into.

Claims: the lander does not skip the refused files and does not publish part of them: it keeps
them, says so loudly (a WARNING per failed attempt) and retries until HDFS takes them, or it
stops with an error; the offsets it commits never pass what is published. Recovery: from the
quota's removal to every partition published again.
"""

from __future__ import annotations

import datetime as dt
import time

from hdfs import InsecureClient

from chaos.outcome import Row
from chaos.run import Context, ScenarioRun
from chaos.services import log_text
from chaos.stack_faults import HdfsQuota
from infra.reconcile import read_landed


def run(ctx: Context) -> Row:
    s = ctx.settings
    quota = HdfsQuota(ctx.endpoints)
    client = InsecureClient(ctx.endpoints.webhdfs_url, user=ctx.endpoints.hdfs_user)
    with ScenarioRun("hdfs_refusal", ctx) as run:
        row = run.row
        run.start(load_s=s.scaled(45, 20), probe=False)
        # Today's UTC day folder, where the load's events land (the few late ones aside).
        folder = f"{run.space.root}/dt={dt.datetime.now(dt.UTC).date().isoformat()}"
        deadline = time.monotonic() + 60
        while client.status(folder, strict=False) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(s.scaled(5, 2))
        refused_s = s.scaled(20, 8)
        entries = quota.freeze(folder)
        try:
            frozen_at = time.monotonic()
            time.sleep(refused_s)
            landed = read_landed(client, run.space.root, run.space.topic)
            published = {p: 0 for p in range(s.partitions)}
            for f in landed.files:
                published[f.name.partition] = max(published[f.name.partition], f.name.last + 1)
            committed = run.kafka.committed(run.space.group, run.space.topic, s.partitions)
            still = quota.usage(folder)["fileAndDirectoryCount"]
        finally:
            quota.clear(folder)
        cleared_at = time.monotonic()
        logs = "".join(log_text(p) for p in run.services.landers)
        row.check("HDFS refused something", still == entries, f"{still} entries of {entries}")
        row.check(
            "the lander said so (WARNING, retrying) or stopped with an error",
            "quota" in logs.lower() and ("retrying" in logs or "ERROR" in logs),
        )
        row.check(
            "no offset committed past what is published",
            all(committed[p] <= published[p] for p in committed),
            f"committed {committed}, published up to {published}",
        )
        row.notes.append(
            f"quota of {entries} entries on {folder.rsplit('/', 1)[1]} for {refused_s:.0f} s "
            f"(held {cleared_at - frozen_at:.1f} s)"
        )
        if not run.services.live_landers():
            row.notes.append("the lander stopped under the refusal; started again")
            run.services.start_lander()
        recovered = run.wait_progress(cleared_at)
        row.check("publishing again after the quota is lifted", recovered is not None)
        row.recovery_s = None if recovered is None else round(recovered, 2)
    return run.row
