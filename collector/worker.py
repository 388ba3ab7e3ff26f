"""One worker process: the app on its own event loop (uvloop when installed), on the shared
port (SO_REUSEPORT), until SIGTERM or SIGINT.

It runs the app as ``web.run_app`` would, with one difference: its listening socket's protocol
is shedding.py's, which answers shed requests before aiohttp parses them, in front of
aiohttp's low-level server (``shed_before_http``).

On SIGTERM aiohttp closes the listening socket, lets requests in progress finish (up to
``shutdown_grace_s``), then the app's cleanup flushes the producer. A worker whose supervisor
is gone (killed) shuts itself down the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from multiprocessing.synchronize import Event
from typing import Any

from aiohttp import web

from collector import logs
from collector.settings import CollectorSettings

log = logging.getLogger("collector")

PARENT_CHECK_S = 1.0
_PARENT_WATCH = web.AppKey("parent_watch", asyncio.Task)


def serve(
    settings: CollectorSettings, parent_pid: int | None = None, serving: Event | None = None
) -> None:
    """Serve until a signal; ``serving`` (a multiprocessing Event) is set once the port is
    bound, so that the supervisor can tell a failed start from a later death."""
    # Imported here, in the worker: prometheus_client must see PROMETHEUS_MULTIPROC_DIR first.
    from collector.app import create_app, runner_kwargs

    logs.configure(settings.log_level)
    app = create_app(settings)
    app.on_startup.append(_tune_gc(settings.gc_threshold))
    if parent_pid is not None:
        app.on_startup.append(_exit_with_parent(parent_pid))
    loop, loop_name = _new_loop()
    asyncio.set_event_loop(loop)
    log.info("worker serving", extra={"port": settings.port, "loop": loop_name})
    main = loop.create_task(_serve_until_signal(app, settings, runner_kwargs(settings), serving))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):  # SIGTERM, SIGINT: the runner's handlers
        pass
    finally:
        if not main.done():
            main.cancel()  # its cleanup: the graceful part
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        # What is left (the parent watch) is cancelled, as run_app does, not destroyed pending.
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    log.info("worker stopped")


async def _serve_until_signal(
    app: web.Application,
    settings: CollectorSettings,
    options: dict[str, Any],
    serving: Event | None,
) -> None:
    runner = web.AppRunner(app, handle_signals=True, **options)
    await runner.setup()
    listening = await listen(runner, settings)
    if serving is not None:
        serving.set()
    try:
        await asyncio.Event().wait()  # until a signal stops the loop and this is cancelled
    finally:
        listening.close()  # no new connection; the runner lets those in progress finish
        await runner.cleanup()


async def listen(runner: web.AppRunner, settings: CollectorSettings) -> asyncio.Server:
    """The listening socket of a runner set up (its app's startup built the collector):
    aiohttp's low-level server behind it, with the shedder in front (``shed_before_http``)."""
    # Imported here: the metrics must see PROMETHEUS_MULTIPROC_DIR first.
    from collector.ingest import COLLECTOR
    from collector.routes import CORS_POLICY
    from collector.segment_api import shed_routes as segment_shed_routes
    from collector.shedding import Shedder, shed_first, v1_shed_routes

    server = runner.server
    assert server is not None, "runner.setup() first"
    factory: Any = server
    if settings.shed_before_http:
        collector = runner.app[COLLECTOR]
        shedder = Shedder(
            collector.admission,
            collector.metrics,
            runner.app[CORS_POLICY],
            [*v1_shed_routes(settings), *segment_shed_routes(settings)],
        )
        factory = shed_first(server, shedder)
    return await asyncio.get_running_loop().create_server(
        factory, settings.host, settings.port, reuse_port=True, backlog=settings.backlog
    )


def _tune_gc(threshold: int):
    """Once the worker is up: its long-lived objects (modules, schemas, the producer) out of
    the collector's sight, and collections less often. Parsed events hold no cycles and die
    young; with Python's default (a collection every 700 allocations) the cyclic collector
    took a measurable share of a worker's CPU under load (gc.callbacks tells)."""

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
