"""``python -m chaos [--short] [SCENARIO ...]``: run the fault scenarios, print their table and
write it with the JSON rows under ``chaos/results/`` (settings: chaos/settings.py).

``--lock FILE`` takes an exclusive lock on FILE (flock) for each scenario, and releases it in
between, for machines where other work shares the stack.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from chaos.outcome import Row, table, write
from chaos.run import Context
from chaos.scenarios import NEED_OWN_STACK, SCENARIOS
from chaos.settings import ChaosSettings
from chaos.stack_faults import StackFaults
from infra.endpoints import Endpoints
from infra.settings import StackSettings
from infra.stack import LocalStack, wait_healthy


@contextlib.contextmanager
def locked(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_one(name: str, ctx: Context) -> Row:
    """One scenario; a crash of the harness is a FAIL row, and the stack is left healthy."""
    if name in NEED_OWN_STACK and not ctx.faults.ours(ctx.endpoints):
        return Row(
            name,
            skipped="stops a service of the stack: needs the local stack of SURGE_STACK_DIR "
            f"({ctx.faults.settings.stack_dir}) running",
        )
    started = time.monotonic()
    try:
        return SCENARIOS[name](ctx)
    except Exception:
        row = Row(name, seconds=round(time.monotonic() - started, 1))
        row.check("ran to the end", False, traceback.format_exc(limit=4).replace("\n", " | "))
        return row
    finally:
        if ctx.faults.ours(ctx.endpoints) or name in NEED_OWN_STACK:
            ctx.faults.restore()  # whatever it stopped runs again, healthy
        else:
            wait_healthy(ctx.endpoints, ctx.faults.settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], help="default: all")
    parser.add_argument("--short", action="store_true", help="the short versions (make test)")
    parser.add_argument("--lock", help="flock this file for each scenario")
    args = parser.parse_args(argv)
    settings = ChaosSettings(short=args.short or ChaosSettings().short)
    names = args.scenarios or list(SCENARIOS)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rows: list[Row] = []
    ctx: Context | None = None
    for name in names:
        print(f"== {name} ({'short' if settings.short else 'full'})", flush=True)
        with locked(args.lock):
            if ctx is None:  # the stack found (or started) under the first lock
                local = LocalStack(StackSettings())
                endpoints = Endpoints.from_env() or (
                    local.endpoints if local.is_healthy() else local.up()
                )
                ctx = Context(
                    endpoints=endpoints,
                    settings=settings,
                    faults=StackFaults(StackSettings()),
                    run_id=f"{stamp.lower()}-{uuid.uuid4().hex[:6]}",
                    log_dir=settings.results_dir / f"logs-{stamp}",
                )
            rows.append(run_one(name, ctx))
        print(table(rows[-1:]), flush=True)
    path = write(rows, settings.results_dir, stamp)
    print(f"\n{table(rows)}\n\nrows: {path}; logs: {settings.results_dir}")
    return 0 if all(row.verdict != "FAIL" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
