"""2. The lander SIGKILLed at random moments, again and again, and started again each time.

Claims: whatever a kill interrupts (a poll, a temp file, the write-ahead log, a rename), the
next lander resumes from the files' names and the log: every record lands exactly once. The
recovery time is from the last restart to the moment every partition with records to land has
published again.
"""

from __future__ import annotations

import random
import time

from chaos.outcome import Row
from chaos.run import Context, ScenarioRun


def run(ctx: Context) -> Row:
    s = ctx.settings
    kills = int(s.scaled(12, 4))
    with ScenarioRun("lander_kills", ctx) as run:
        row = run.row
        run.start(load_s=s.scaled(70, 25), probe=False)
        chance = random.Random()
        done = 0
        for _ in range(kills):
            # Long enough to start, join the group and publish sometimes; random so that the
            # kills fall in every step of a publish over a run.
            time.sleep(chance.uniform(2.0, 6.0))
            (lander,) = run.services.live_landers()
            run.services.kill(lander)
            done += 1
            run.services.start_lander()
        restarted_at = time.monotonic()
        row.check(f"{kills} kills", done == kills, f"{done} done")
        row.notes.append(f"{done} SIGKILLs, 2-6 s apart")
        row.recovery_s = run.wait_progress(restarted_at)
        row.check("publishing again after the last restart", row.recovery_s is not None)
        if row.recovery_s is not None:
            row.recovery_s = round(row.recovery_s, 2)
    return run.row
