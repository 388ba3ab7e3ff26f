"""4. The collector sent SIGTERM under load, then started again on the same port.

Claims: it stops taking new connections, answers the requests it has (each 2xx only once Kafka
holds its events), flushes and exits 0 within its grace period; clients retry what was refused
or cut, and once it is back everything acknowledged lands exactly once. Recovery: from the new
process's start to /readyz true.
"""

from __future__ import annotations

import time

from chaos.outcome import Row
from chaos.run import Context, ScenarioRun
from collector.settings import CollectorSettings

DOWN_S = 3.0  # as an orchestrator replaces a pod


def run(ctx: Context) -> Row:
    s = ctx.settings
    grace_s = CollectorSettings().shutdown_grace_s
    with ScenarioRun("collector_restart", ctx) as run:
        row = run.row
        run.start(load_s=s.scaled(45, 20))
        time.sleep(s.scaled(12, 6))
        stopping_at = time.monotonic()
        code = run.services.terminate(run.services.collector, timeout_s=grace_s + 20)
        stop_s = time.monotonic() - stopping_at
        row.check("exit 0 on SIGTERM", code == 0, f"exit {code}")
        row.check("stopped within its grace period", stop_s <= grace_s + 5, f"{stop_s:.1f} s")
        row.notes.append(f"SIGTERM to exit {stop_s:.1f} s; down {DOWN_S:.0f} s")
        time.sleep(DOWN_S)
        run.services.start_collector(wait_ready_s=0)
        row.recovery_s = round(run.services.wait_ready(60), 2)
    return run.row
