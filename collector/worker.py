"""One worker process: the app on its own event loop (uvloop when installed), on the shared
port (SO_REUSEPORT), until SIGTERM or SIGINT.

On SIGTERM aiohttp closes the listening socket, lets requests in progress finish (up to
``shutdown_grace_s``), then the app's cleanup flushes the producer. A worker whose supervisor
is gone (killed) shuts itself down the same way.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal

from aiohttp import web

from collector import logs
from collector.settings import CollectorSettings

log = logging.getLogger("collector")

PARENT_CHECK_S = 1.0
_PARENT_WATCH = web.AppKey("parent_watch", asyncio.Task)


def serve(settings: CollectorSettings, parent_pid: int | None = None) -> None:
    # Imported here, in the worker: prometheus_client must see PROMETHEUS_MULTIPROC_DIR first.
    from collector.app import create_app, runner_kwargs

    logs.configure(settings.log_level)
    app = create_app(settings)
    app.on_startup.append(_tune_gc(settings.gc_threshold))
    if parent_pid is not None:
        app.on_startup.append(_exit_with_parent(parent_pid))
    loop, loop_name = _new_loop()
    log.info("worker serving", extra={"port": settings.port, "loop": loop_name})
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        reuse_port=True,
        backlog=settings.backlog,
        print=None,
        handle_signals=True,
        loop=loop,
        **runner_kwargs(settings),
    )
    log.info("worker stopped")


def _tune_gc(threshold: int):
    """Once the worker is up: its long-lived objects (modules, schemas, the producer) out of
    the collector's sight, and collections less often. Parsed events hold no cycles and die
    young; with Python's default (a collection every 700 allocations) the cyclic collector
    took 6-8 % of a worker's CPU under load, measured with gc.callbacks."""

    async def on_startup(app: web.Application) -> None:
        if threshold:
            gc.freeze()
            _, gen1, gen2 = gc.get_threshold()
            gc.set_threshold(threshold, gen1, gen2)

    return on_startup


def _exit_with_parent(parent_pid: int):
    async def watch() -> None:
        while os.getppid() == parent_pid:
            await asyncio.sleep(PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)

    async def on_startup(app: web.Application) -> None:
        app[_PARENT_WATCH] = asyncio.get_running_loop().create_task(watch())

    return on_startup


def _new_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"
