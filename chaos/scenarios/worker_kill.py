"""8. A collector worker SIGKILLed under load (the OOM killer during a sale), again and again,
one of them just after its own start; the collector runs two workers on the port here.

Claims: the supervisor stays up and replaces every killed worker; the port keeps serving
(most probe POSTs 200; the requests the dead worker held are cut or refused, and clients send
them again); every event acknowledged lands, and what the dead worker wrote without answering
is counted once by the reports. Recovery: from a kill to its replacement listening, the
longest of them.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter

import psutil

from chaos.outcome import Row
from chaos.run import Context, ScenarioRun
from chaos.services import listening_children

WORKERS = 2
REPLACE_TIMEOUT_S = 30.0


def replaced(supervisor: int, killed: set[int], timeout_s: float) -> set[int] | None:
    """The serving workers once there are WORKERS again, none of them a killed one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        workers = listening_children(supervisor)
        if len(workers) == WORKERS and not workers & killed:
            return workers
        time.sleep(0.05)
    return None


def run(ctx: Context) -> Row:
    s = ctx.settings
    kills = int(s.scaled(6, 2))
    with ScenarioRun("worker_kill", ctx) as run:
        row = run.row
        run.start(load_s=s.scaled(60, 25), collector_workers=WORKERS)
        supervisor = run.services.collector
        chance = random.Random()
        killed: set[int] = set()
        replace_s: list[float] = []
        time.sleep(s.scaled(8, 4))
        for i in range(kills):
            victims = sorted(listening_children(supervisor.pid) - killed)
            if i == kills - 1:  # the newest, just replaced: a signal is no failed start
                victim = max(victims, key=lambda pid: psutil.Process(pid).create_time())
            else:
                victim = chance.choice(victims)
            psutil.Process(victim).send_signal(signal.SIGKILL)
            killed.add(victim)
            at = time.monotonic()
            if replaced(supervisor.pid, killed, REPLACE_TIMEOUT_S) is None:
                row.check(f"kill {i + 1}: worker replaced", False, f"not in {REPLACE_TIMEOUT_S} s")
                break
            replace_s.append(time.monotonic() - at)
            if i < kills - 2:
                time.sleep(chance.uniform(3.0, 6.0))
        row.check(f"{kills} workers killed and replaced", len(replace_s) == kills)
        row.check("supervisor still up", supervisor.poll() is None)
        row.notes.append(
            f"{len(replace_s)} SIGKILLs of a worker; replaced in "
            + ", ".join(f"{t:.1f}" for t in replace_s)
            + " s (the last kill hit a worker that had just started)"
        )
        during = run.probe.between(run.probe.posts, run.started, time.monotonic())
        served = sum(1 for p in during if p.status == 200)
        statuses = Counter("cut" if p.status is None else p.status for p in during)
        row.notes.append(f"probe POSTs: {dict(statuses)}")
        row.check(
            "served throughout (most probe POSTs 200, the rest cut or 503 with Retry-After)",
            served * 2 > len(during)
            and all(p.status in (200, None) or (p.status == 503 and p.retry_after) for p in during),
            f"probe answers {dict(statuses)}",
        )
        row.recovery_s = round(max(replace_s), 2) if replace_s else None
    return run.row
