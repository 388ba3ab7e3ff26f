"""CORS for the browser SDKs: preflights answered, and answers readable from allowed origins.

Allowed origins are global (``cors_origins``) unless the write key lists its own. A preflight
knows the key only when it is in the URL (``?write_key=``): the header is not sent with it.
Only exact origins (or ``*``) are allowed: the ``Origin`` value is echoed back only when it is
in the list, never built from the request otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

ALLOW_HEADERS = "Content-Type, Content-Encoding, X-Write-Key"
MAX_AGE_S = "86400"
WRITE_KEY = web.RequestKey("write_key", str)


class CorsPolicy:
    def __init__(self, origins: tuple[str, ...], per_key: Mapping[str, tuple[str, ...]]):
        self._origins = frozenset(origins)
        self._per_key = {key: frozenset(o) for key, o in per_key.items()}

    def allow_origin(self, origin: str | None, write_key: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for this origin, or None if not allowed."""
        if not origin:
            return None
        allowed = self._per_key.get(write_key, self._origins) if write_key else self._origins
        if origin in allowed:
            return origin
        return "*" if "*" in allowed else None


def preflight(
    request: web.Request,
    policy: CorsPolicy,
    allow_headers: str = ALLOW_HEADERS,
    key_param: str = "write_key",
) -> web.Response:
    """The answer to a preflight; another API (segment_api.py) names its own headers and the
    URL parameter of its write key."""
    response = web.Response(status=204)
    allowed = policy.allow_origin(request.headers.get("Origin"), request.query.get(key_param))
    if allowed is not None:
        response.headers.update(
            {
                "Access-Control-Allow-Origin": allowed,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": allow_headers,
                "Access-Control-Max-Age": MAX_AGE_S,
                "Vary": "Origin",
            }
        )
    return response


def cors_middleware(policy: CorsPolicy):
    @web.middleware
    async def middleware(request: web.Request, handler):
        response = await handler(request)
        origin = request.headers.get("Origin")
        if origin and request.method != "OPTIONS":
            allowed = policy.allow_origin(origin, request.get(WRITE_KEY))
            if allowed is not None:
                response.headers["Access-Control-Allow-Origin"] = allowed
                response.headers["Access-Control-Expose-Headers"] = "Retry-After"
                response.headers["Vary"] = "Origin"
        return response

    return middleware
