"""A server that does nothing but answer like the collector: the load generator's own ceiling.

    python -m loadgen.trivial_server --port 8099

Every ``POST`` is read whole and answered 200 ``{"accepted": N, "rejected": []}``, N counted
from the body without parsing it; ``GET /readyz`` answers 200. On uvloop, one process: what the
generator can offer against it is the most it can offer to anything (``--self-test``), and what
it answers is the most any aiohttp collector could on one core (bench/peers/http_collectors.py).
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

_EVENT = b'"event_id"'


async def _batch(request: web.Request) -> web.Response:
    body = await request.read()
    return web.Response(
        body=b'{"accepted":%d,"rejected":[]}' % body.count(_EVENT), content_type="application/json"
    )


async def _ready(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def app() -> web.Application:
    application = web.Application(client_max_size=16 * 2**20)
    application.router.add_post("/{tail:.*}", _batch)
    application.router.add_get("/readyz", _ready)
    return application


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadgen.trivial_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(args.host, args.port))


async def _serve(host: str, port: int) -> None:
    runner = web.AppRunner(app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
