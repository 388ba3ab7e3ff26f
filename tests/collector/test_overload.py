"""Overload behaviour on a served app (issue 20): no shed at light load from the start, a shed
answer never waits for the body, Retry-After present and spread, recovery after a burst.

Not timed beyond "answered at all": the figures are bench/bench_collector.py's.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.collector.doubles import MemorySink

KAFKA_LIKE_S = 0.02  # the sink's latency: requests wait on it, as on Kafka's acknowledgement


@pytest.fixture
def batch(make_event) -> bytes:
    return orjson.dumps({"events": [make_event() for _ in range(5)]})


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    await reader.readexactly(int(headers.get("Content-Length", 0)))
    return int(lines[0].split()[1]), headers


def _head(length: int) -> bytes:
    return (
        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Write-Key: dev\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_no_shed_at_light_load_right_after_start(serve, make_settings, runner, batch):
    """Cold start: the first requests of a fresh worker, 10 at a time, all admitted. (The
    client runs on the server's loop: more at a time would make its CPU short for real.)"""
    sink = MemorySink()
    sink.delay_s = KAFKA_LIKE_S
    served = serve(make_settings(), sink)

    async def waves():
        statuses = []
        for _ in range(40):
            answers = await asyncio.gather(
                *(served.arequest("POST", "/v1/batch", data=batch) for _ in range(10))
            )
            statuses += [a.status for a in answers]
        return statuses

    assert runner.run(waves()) == [200] * 400


@pytest.mark.parametrize("before_http", [True, False], ids=["early", "request-path"])
def test_a_shed_answer_never_waits_for_the_body(
    serve, make_settings, runner, batch, free_port, before_http
):
    """Admission full: a request whose body is never sent is answered 503 all the same."""
    sink = MemorySink()
    sink.delay_s = 1.0
    served = serve(
        make_settings(max_in_flight=1, shed_before_http=before_http),
        sink,
    )

    async def scenario():
        slow = asyncio.create_task(served.arequest("POST", "/v1/batch", data=batch))
        await asyncio.sleep(0.2)  # admitted, holding the only place
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(_head(100_000))  # the head only: the body would follow, it never does
        status, headers = await _answer(reader)
        writer.close()
        return status, headers, (await slow).status

    status, headers, slow = runner.run(scenario())
    assert (status, slow) == (503, 200)
    assert int(headers["Retry-After"]) >= 1
    assert sink.calls == 1


def test_retry_after_is_present_whole_and_spread(serve, make_settings, runner, batch):
    sink = MemorySink()
    sink.delay_s = 1.0
    served = serve(make_settings(max_in_flight=1), sink)

    async def scenario():
        slow = asyncio.create_task(served.arequest("POST", "/v1/batch", data=batch))
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        values = []
        for _ in range(40):  # one keep-alive connection, as an SDK's
            writer.write(_head(len(batch)) + batch)
            status, headers = await _answer(reader)
            assert status == 503
            values.append(headers["Retry-After"])
        writer.close()
        await slow
        return values

    values = runner.run(scenario())
    assert all(v.isdigit() and int(v) >= 1 for v in values)
    assert len(set(values)) >= 2  # spread: the clients shed together do not return together


def test_recovers_after_an_overload_burst(serve, make_settings, runner, batch):
    """A burst of three times the cap in progress sheds the excess at once; right after it,
    everything is admitted again."""
    sink = MemorySink()
    sink.delay_s = 0.2
    served = serve(make_settings(max_in_flight=32), sink)

    async def scenario():
        during = await asyncio.gather(
            *(served.arequest("POST", "/v1/batch", data=batch) for _ in range(96))
        )
        sink.delay_s = KAFKA_LIKE_S
        after = []
        for _ in range(10):
            answers = await asyncio.gather(
                *(served.arequest("POST", "/v1/batch", data=batch) for _ in range(10))
            )
            after += [a.status for a in answers]
        return [a.status for a in during], after

    during, after = runner.run(scenario())
    assert during.count(200) == 32 and during.count(503) == 64
    assert after == [200] * 100
