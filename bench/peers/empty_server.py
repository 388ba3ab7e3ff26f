"""An aiohttp server on uvloop whose handler reads the body and answers 200: the ceiling of an
HTTP collector written with aiohttp on one core.  python bench/peers/empty_server.py PORT"""

import sys

import uvloop
from aiohttp import web


async def batch(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"accepted": 0})


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/batch", batch)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
