"""The one error type of the request path, and the one place that turns it into an answer.

Steps raise ``CollectorError(Cause.X, "what is wrong")`` and know nothing of HTTP; the status,
the JSON body and ``Retry-After`` are decided here, by the cause. Causes are a closed set: they
are also the ``cause`` label of the metrics.
"""

from __future__ import annotations

import logging
import random
from enum import StrEnum

import orjson
from aiohttp import web

log = logging.getLogger(__name__)


class Cause(StrEnum):
    MALFORMED = "malformed"  # not JSON, wrong envelope, bad gzip
    INVALID_EVENT = "invalid_event"  # the one event of /v1/event fails its schema
    UNAUTHORIZED = "unauthorized"  # missing or unknown write key
    BODY_TIMEOUT = "body_timeout"  # the client did not send its body in time
    TOO_LARGE = "too_large"  # body, decompressed body, event or batch over its limit
    UNSUPPORTED = "unsupported"  # Content-Type or Content-Encoding
    RATE_LIMITED = "rate_limited"  # the write key is over its rate
    OVERLOADED = "overloaded"  # shed by admission, before the body is read
    SINK_UNAVAILABLE = "sink_unavailable"  # Kafka down, slow or its buffer full
    DEADLINE = "deadline"  # the whole request took too long
    SHUTTING_DOWN = "shutting_down"


STATUS = {
    Cause.MALFORMED: 400,
    Cause.INVALID_EVENT: 400,
    Cause.UNAUTHORIZED: 401,
    Cause.BODY_TIMEOUT: 408,
    Cause.TOO_LARGE: 413,
    Cause.UNSUPPORTED: 415,
    Cause.RATE_LIMITED: 429,
    Cause.OVERLOADED: 503,
    Cause.SINK_UNAVAILABLE: 503,
    Cause.DEADLINE: 503,
    Cause.SHUTTING_DOWN: 503,
}

# Statuses a client should retry later; they always carry Retry-After: when the cause gives
# none, whole seconds drawn from this range, so that the clients refused together do not all
# come back together (admission.py gives shed answers their own, growing with the overload).
_RETRY_DEFAULT_S = {429: (1, 3), 503: (1, 3)}


class CollectorError(Exception):
    def __init__(self, cause: Cause, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.retry_after_s = retry_after_s

    @property
    def status(self) -> int:
        return STATUS[self.cause]


def error_response(error: CollectorError) -> web.Response:
    status = error.status
    headers = {}
    retry = error.retry_after_s
    if retry is None and status in _RETRY_DEFAULT_S:
        retry = random.randint(*_RETRY_DEFAULT_S[status])
    if retry is not None:
        headers["Retry-After"] = str(max(1, round(retry + 0.499)))  # whole seconds, rounded up
    body = orjson.dumps({"error": error.message, "code": error.cause.value})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler):
    """Every answer is JSON: ours, aiohttp's own (404, 405) and, for a bug, a logged 500."""
    try:
        return await handler(request)
    except CollectorError as error:
        return error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        body = orjson.dumps({"error": exc.reason, "code": "http"})
        return web.Response(
            status=exc.status, body=body, content_type="application/json", headers=_kept(exc)
        )
    except Exception:
        log.exception("unexpected error", extra={"route": request.path[:64]})
        body = orjson.dumps({"error": "internal error", "code": "internal"})
        return web.Response(status=500, body=body, content_type="application/json")


def _kept(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Allow",)}
