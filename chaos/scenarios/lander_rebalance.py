"""5. A second lander joins the group mid-run, and is SIGKILLed later.

Claims: partitions move to the newcomer (a rebalance) and, after the kill, back to the first
lander once the group's session times out (a second rebalance); the first lander drops the
buffers of partitions it loses and the owner resumes from the published files: nothing lost or
landed twice. Recovery: from the kill to every partition published again.
"""

from __future__ import annotations

import time

from chaos.outcome import Row
from chaos.run import Context, ScenarioRun
from chaos.services import log_text


def run(ctx: Context) -> Row:
    s = ctx.settings
    with ScenarioRun("lander_rebalance", ctx) as run:
        row = run.row
        run.start(load_s=s.scaled(60, 30), probe=False)
        time.sleep(s.scaled(10, 5))
        second = run.services.start_lander()
        time.sleep(s.scaled(20, 12))
        row.check(
            "the second lander published",
            "published" in log_text(second),
            "it never took a partition",
        )
        run.services.kill(second)
        killed_at = time.monotonic()
        recovered = run.wait_progress(killed_at)
        row.check("its partitions published again", recovered is not None)
        row.recovery_s = None if recovered is None else round(recovered, 2)
        row.notes.append(f"session timeout {s.lander_session_timeout_ms / 1000:.0f} s")
    return run.row
