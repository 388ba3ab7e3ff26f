"""Routes and their handlers, thin: ingestion is ingest.py, the rest is a few lines each."""

from __future__ import annotations

import orjson
from aiohttp import web

from collector.cors import CorsPolicy, preflight
from collector.ingest import COLLECTOR, ingest

CORS_POLICY = web.AppKey("cors_policy", CorsPolicy)
BATCH_PATH, EVENT_PATH = "/v1/batch", "/v1/event"  # the ingestion routes (shedding.py too)


def setup_routes(app: web.Application) -> None:
    app.router.add_post(BATCH_PATH, post_batch)
    app.router.add_post(EVENT_PATH, post_event)
    app.router.add_route("OPTIONS", BATCH_PATH, options)
    app.router.add_route("OPTIONS", EVENT_PATH, options)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def post_batch(request: web.Request) -> web.Response:
    return await ingest(request, single=False)


async def post_event(request: web.Request) -> web.Response:
    return await ingest(request, single=True)


async def options(request: web.Request) -> web.Response:
    return preflight(request, request.app[CORS_POLICY])


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers. Says nothing of Kafka (that is /readyz)."""
    return _json({"alive": True})


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: Kafka available and not shutting down."""
    c = request.app[COLLECTOR]
    kafka = c.sink.is_healthy()
    ready = kafka and not c.draining
    return _json({"ready": ready, "kafka": kafka, "draining": c.draining}, 200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[COLLECTOR].metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def _json(payload: dict, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")
