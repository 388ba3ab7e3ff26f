"""The load generator's HTTP client (loadgen/http.py) against its trivial server: what an
answer tells of its request (when it was written, its place on its connection)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from loadgen import trivial_server
from loadgen.http import Answer, Pool, Target, frame


def test_an_answer_tells_when_and_where_on_its_connection_its_request_went():
    async def scenario() -> list[tuple[float, float, Answer]]:
        server = web.AppRunner(trivial_server.app(), access_log=None)
        await server.setup()
        await web.TCPSite(server, "127.0.0.1", 0).start()
        target = Target("127.0.0.1", server.addresses[0][1], "/v1/batch")
        loop = asyncio.get_running_loop()
        answers: asyncio.Queue[tuple[float, Answer]] = asyncio.Queue()
        pool = Pool(target, 4, 5.0, lambda at, a: answers.put_nowait((at, a)), lambda at, why: None)
        data, _ = frame(target, b'{"events":[{"event_id":"a"},{"event_id":"b"}]}', {})
        seen = []
        try:
            for _ in range(3):  # one after the other: the same keep-alive connection
                pool.submit(loop.time(), data)
                submitted, answer = await asyncio.wait_for(answers.get(), 5)
                seen.append((submitted, loop.time(), answer))
        finally:
            await pool.close()
            await server.cleanup()
        return seen

    seen = asyncio.run(scenario())
    assert [answer.nth for _, _, answer in seen] == [1, 2, 3]
    for submitted, answered, answer in seen:
        assert answer.status == 200 and answer.body == b'{"accepted":2,"rejected":[]}'
        assert submitted <= answer.sent_at <= answered
