"""The runner against test servers: open loop, exact acked ids, Retry-After, no retry.

The servers are fakes written here, on the test's own loop, so their clock is the runner's.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web

from loadgen import Constant, LoadConfig, Results, run_async

Answer = Callable[[web.Request, list[str], int], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    at: float  # loop time
    ids: list[str]
    sent_at: int


@dataclass
class FakeCollector:
    """Records what it receives; ``answer(request, ids, attempt)`` answers each batch."""

    answer: Answer
    received: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        ids = [e["event_id"] for e in body["events"]]
        self.received.append(Received(asyncio.get_running_loop().time(), ids, body["sent_at"]))
        self.attempts[ids[0]] += 1
        return await self.answer(request, ids, self.attempts[ids[0]])


def _ok(rejected: tuple[int, ...] = ()) -> web.Response:
    rejected_body = [{"index": i, "error": "bad"} for i in rejected]
    return web.json_response({"accepted": 5 - len(rejected), "rejected": rejected_body})


def _run(answer: Answer, **overrides) -> tuple[Results, FakeCollector]:
    """One run against a fake collector answering with ``answer``; 5 events a request."""

    async def scenario() -> tuple[Results, FakeCollector]:
        collector = FakeCollector(answer)
        app = web.Application()
        app.router.add_post("/v1/batch", collector.handle)
        server = web.AppRunner(app, access_log=None)
        await server.setup()
        site = web.TCPSite(server, "127.0.0.1", 0)
        await site.start()
        port = server.addresses[0][1]
        settings = {
            "url": f"http://127.0.0.1:{port}",
            "profile": Constant(events_per_s=200, duration_s=1),
            "events_per_request": 5,
            "invalid_event_share": 0.0,
            "progress": False,
            "drain_s": 10,
        }
        try:
            return await run_async(LoadConfig(**(settings | overrides))), collector
        finally:
            await server.cleanup()

    return asyncio.run(scenario())


def test_requests_leave_on_schedule_while_the_server_stalls():
    """Answers are held until 1 s after the server's first request: the schedule goes on
    regardless, and latencies count from the scheduled time."""
    release: list[float] = []

    async def stall(request, ids, attempt):
        now = asyncio.get_running_loop().time()
        release.append(release[0] if release else now + 1.0)
        await asyncio.sleep(max(0.0, release[0] - now))
        return _ok()

    results, collector = _run(stall, profile=Constant(events_per_s=200, duration_s=2))
    assert len(collector.received) == 80  # 40 requests/s for 2 s, all sent once
    index = {b.event_ids[0]: k for k, b in enumerate(results.batches)}
    arrivals = sorted((index[r.ids[0]], r.at) for r in collector.received)
    first = arrivals[0][1]
    # Open loop: the k-th request arrived k x 25 ms after the first, stalled or not (give or
    # take the loop's own hiccups: when the release answers 40 requests at once, say).
    late = [at - first - k * 0.025 for k, at in arrivals]
    # Wide margins: the test shares 2 cores with whatever else runs; a closed loop would be
    # a whole second late.
    assert max(abs(x) for x in late) < 0.4
    assert sorted(abs(x) for x in late)[40] < 0.1
    assert sum(1 for _, at in arrivals if at < release[0]) >= 38  # sent while none answered
    ok = results.as_dict()["latency_ms"]["ok"]
    assert ok["count"] == 80
    assert ok["max"] >= 950  # the first request waited for the release, from its schedule
    assert ok["p50"] < 100  # those after the stall were quick


def test_acked_ids_are_exactly_those_the_2xx_answers_accepted():
    """By batch: 200 rejecting two indexes; 503 then 200; 400; 200 in chunks; plain 200."""
    accepted: set[str] = set()

    async def mixed(request, ids, attempt):
        kind = int(ids[0][-1], 16) % 5
        if kind == 0:
            accepted.update(i for n, i in enumerate(ids) if n not in (1, 3))
            return _ok(rejected=(1, 3))
        if kind == 1 and attempt == 1:
            return web.json_response({"error": "busy"}, status=503, headers={"Retry-After": "0"})
        if kind == 2:
            return web.json_response({"error": "bad"}, status=400)
        accepted.update(ids)
        if kind != 3:
            return _ok()
        chunked = web.StreamResponse(headers={"Content-Type": "application/json"})
        chunked.enable_chunked_encoding()
        await chunked.prepare(request)
        await chunked.write(b'{"accepted":5,')
        await chunked.write(b'"rejected":[]}')
        await chunked.write_eof()
        return chunked

    results, collector = _run(mixed, profile=Constant(events_per_s=500, duration_s=2))
    acked = list(results.acked_ids())
    assert len(acked) == len(set(acked))
    assert set(acked) == accepted
    kinds = [int(first[-1], 16) % 5 for first in collector.attempts]
    assert all(kinds.count(k) > 0 for k in range(5))
    assert results.tally.statuses[400] == kinds.count(2)
    assert results.tally.statuses[503] == kinds.count(1)
    assert results.tally.rejected_events == 2 * kinds.count(0)
    assert results.tally.acked_events == len(accepted)


def test_retry_after_is_honoured_with_the_same_ids():
    async def busy_once(request, ids, attempt):
        if attempt == 1:
            return web.json_response({"error": "busy"}, status=503, headers={"Retry-After": "1"})
        return _ok()

    results, collector = _run(busy_once, profile=Constant(events_per_s=50, duration_s=1))
    by_batch: dict[str, list[Received]] = defaultdict(list)
    for received in collector.received:
        by_batch[received.ids[0]].append(received)
    assert len(by_batch) == 10
    for first, retry in by_batch.values():
        assert retry.at - first.at >= 0.99  # not before Retry-After
        assert retry.at - first.at < 1.5
        assert retry.ids == first.ids  # the same events, the same ids
        assert retry.sent_at - first.sent_at == pytest.approx(1000, abs=60)
    d = results.as_dict()
    assert d["requests"]["retries"] == 10
    assert d["events"]["acked"] == 50
    assert d["latency_ms"]["shed"]["count"] == 10
    assert d["latency_ms"]["delivered_after_retry"]["p50"] >= 990
    assert set(results.acked_ids()) == {i for r in by_batch.values() for i in r[0].ids}


def test_without_retries_shed_batches_are_given_up_and_counted():
    async def always_busy(request, ids, attempt):
        return web.json_response({"error": "busy"}, status=429, headers={"Retry-After": "0"})

    results, collector = _run(always_busy, max_attempts=1)
    assert len(collector.received) == 40
    d = results.as_dict()
    assert d["requests"]["gave_up"] == 40
    assert d["events"]["gave_up"] == 200
    assert list(results.acked_ids()) == []


def test_a_bounded_number_of_attempts_then_it_gives_up():
    async def always_unavailable(request, ids, attempt):
        return web.json_response({"error": "down"}, status=503, headers={"Retry-After": "0.05"})

    results, collector = _run(
        always_unavailable, profile=Constant(events_per_s=50, duration_s=1), max_attempts=3
    )
    assert len(collector.received) == 30  # 10 batches x 3 attempts
    assert results.tally.gave_up_requests == 10
    assert results.tally.retries == 20


def test_lost_answers_are_retried_after_the_timeout():
    async def slow_first(request, ids, attempt):
        if attempt == 1:
            await asyncio.sleep(2)  # longer than the client waits
        return _ok()

    results, collector = _run(
        slow_first,
        profile=Constant(events_per_s=50, duration_s=1),
        request_timeout_s=0.5,
        retry_backoff_s=0.1,
    )
    assert results.tally.failures["timeout"] == 10
    assert results.tally.acked_events == 50
    assert len(collector.received) == 20


def test_a_long_run_renumbers_its_ids_and_never_sends_one_twice():
    async def ok(request, ids, attempt):
        return _ok()

    results, collector = _run(ok, distinct_requests=7)
    ids = [i for r in collector.received for i in r.ids]
    assert len(ids) == 200
    assert len(set(ids)) == 200
    assert set(results.acked_ids()) == set(ids)
    assert len(results.batches) == 7


def test_results_have_a_timeline_and_totals():
    async def ok(request, ids, attempt):
        return _ok()

    results, _ = _run(ok, profile=Constant(events_per_s=400, duration_s=3))
    d = results.as_dict()
    assert [row["offered_requests"] for row in d["timeline"][:3]] == [80, 80, 80]
    assert sum(row["acked_events"] for row in d["timeline"]) == 1200
    assert d["requests"]["by_status"] == {"200": 240}
    assert d["config"]["profile"]["kind"] == "constant"
    assert d["latency_ms"]["ok"]["count"] == 240
