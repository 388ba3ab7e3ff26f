"""``python -m collector``: N worker processes sharing one port (collector/worker.py).

Each worker binds the port with SO_REUSEPORT (the kernel spreads connections over them) and runs
its own event loop. This process only supervises: it replaces a worker that dies (unless it
failed by itself before it listened: it would fail again, and the collector stops), and on
SIGTERM or SIGINT passes SIGTERM on and waits for the workers to finish their requests and
flush. With one worker, it serves in this process. Configuration: collector/settings.py.

Why not gunicorn's aiohttp worker: measured side by side (bench/bench_supervisor.py) it served
the same, replaced a killed worker as fast and drained on SIGTERM as well, but it serves
through aiohttp's own sites, so the shedder that answers before aiohttp (shedding.py, which
the overload bench found decisive at three times the capacity) could only sit in front of it
by overriding the worker's private ``_run``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event
from pathlib import Path

# Nothing here imports prometheus_client: the workers must see PROMETHEUS_MULTIPROC_DIR first.
from collector import logs
from collector.settings import CollectorSettings
from collector.worker import serve

log = logging.getLogger("collector")


def main() -> int:
    settings = CollectorSettings()
    logs.configure(settings.log_level)
    if settings.workers == 1:
        serve(settings)
        return 0
    return supervise(settings)


def supervise(settings: CollectorSettings) -> int:
    own_dir = _fresh_metrics_dir()
    try:
        return _supervise(settings)
    finally:
        if own_dir:  # a temp dir made for this run: nobody reads it once the workers are gone
            shutil.rmtree(own_dir, ignore_errors=True)


def _supervise(settings: CollectorSettings) -> int:
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited loop
    # slot -> the worker, and the event it sets once it listens
    workers: dict[int, tuple[multiprocessing.Process, Event]] = {}
    stopping = False

    def start(slot: int) -> None:
        serving = context.Event()
        proc = context.Process(
            target=serve, args=(settings, os.getpid(), serving), name=f"worker-{slot}"
        )
        proc.start()
        workers[slot] = (proc, serving)

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc, _ in workers.values():
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(settings.workers):
        start(slot)
    log.info("collector started", extra={"workers": settings.workers, "port": settings.port})

    code = 0
    kill_at = None
    while workers:
        if stopping and kill_at is None:
            kill_at = time.monotonic() + settings.shutdown_grace_s + 10
        if kill_at is not None and time.monotonic() > kill_at:
            for proc, _ in workers.values():
                proc.kill()
        wait([proc.sentinel for proc, _ in workers.values()], timeout=0.5)
        for slot, (proc, serving) in list(workers.items()):
            if proc.is_alive():
                continue
            proc.join()
            del workers[slot]
            _mark_dead(proc.pid)
            if stopping:
                code = code or (proc.exitcode != 0)
                continue
            # A worker that failed by itself before it ever listened (a setting, a port taken)
            # would fail again. One killed by a signal (the OOM killer, an operator), or that
            # failed after serving, is replaced.
            if proc.exitcode is not None and proc.exitcode > 0 and not serving.is_set():
                log.error("worker failed at start", extra={"exitcode": proc.exitcode})
                code = 1
                stop(signal.SIGTERM, None)
                continue
            log.error("worker died, restarting", extra={"exitcode": proc.exitcode})
            start(slot)
    log.info("collector stopped")
    return int(code)


def _fresh_metrics_dir() -> str | None:
    """Workers write their metrics here (metrics.py); emptied, as values of dead pids linger.

    Returns the directory when it is a temp dir made here (the caller removes it).
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        Path(path).mkdir(parents=True, exist_ok=True)
        return None
    path = tempfile.mkdtemp(prefix="surge-collector-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def _mark_dead(pid: int | None) -> None:
    if pid is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


if __name__ == "__main__":
    sys.exit(main())
