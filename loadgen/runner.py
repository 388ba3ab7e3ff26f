"""The open-loop run: every batch leaves at its scheduled time, answered or not.

    results = run(LoadConfig(url="http://127.0.0.1:8080"))   # or: await run_async(config)

No coordinated omission: the schedule never waits for answers (a request with no free
connection opens one, up to the pool's bound, or waits in line), and every latency is counted
from the scheduled time, so a stalled server shows in the latencies instead of slowing the
load. Shed answers (429, 503) and other 5xx, timeouts and lost connections are retried like an
SDK does: after ``Retry-After`` when the answer says it, else after a doubling backoff, with the
same body and the same event ids (only ``sent_at`` moves on), at most ``max_attempts`` sends;
what is still not accepted then is counted as given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from loadgen.batches import Batch, for_lap, rendered, sent_at_of, with_sent_at
from loadgen.http import Answer, Pool, Target, frame
from loadgen.profiles import send_times
from loadgen.results import Results, Second, Tally, progress_line
from loadgen.settings import LoadConfig

_NOTHING_REJECTED = b'"rejected":[]'
_SHED = frozenset({429, 503})
_START_DELAY_S = 0.05  # the first send's margin after the clock starts


class _Send:
    """One batch through its attempts."""

    __slots__ = ("attempt", "data", "events", "first_scheduled", "index", "lap", "scheduled")

    def __init__(self, index: int, lap: int, data: bytes, events: int, scheduled: float) -> None:
        self.index, self.lap, self.data, self.events = index, lap, data, events
        self.scheduled = self.first_scheduled = scheduled
        self.attempt = 1


class _Run:
    def __init__(self, config: LoadConfig, on_second: Callable[[dict[str, Any]], None] | None):
        self.config = config
        self.on_second = on_second
        self.loop = asyncio.get_running_loop()
        self.target = Target.parse(config.url, config.path)
        self.times = send_times(config.profile, config.events_per_request)
        self.start_ms = time.time_ns() // 1_000_000
        # The CPU work of the run, all of it before the clock starts.
        self.batches = rendered(
            config, min(config.distinct_requests, len(self.times)), self.start_ms
        )
        self.requests = [self._frame(b) for b in self.batches]
        self.tally = Tally()
        self.seconds: list[Second | None] = []  # None once folded into the timeline
        self.offered: list[int] = []  # requests scheduled in each second
        self.timeline: list[dict[str, Any]] = []
        self.acked: list[tuple[int, int, frozenset[int]]] = []
        self.unfinished = 0
        self.scheduling = True
        self.closed = False
        self.drained = asyncio.Event()
        self.start = 0.0

    def _frame(self, batch: Batch) -> tuple[bytes, int]:
        headers = {"Content-Type": "application/json", "User-Agent": batch.user_agent}
        if self.config.write_key is not None and not self.config.write_key_in_body:
            headers["X-Write-Key"] = self.config.write_key
        return frame(self.target, batch.body, headers)

    def request(self, k: int) -> tuple[int, int, bytes]:
        """(batch index, lap, request bytes) of the k-th send of the schedule."""
        lap, index = divmod(k, len(self.batches))
        data, body_at = self.requests[index]
        if lap:
            data = data[:body_at] + for_lap(self.batches[index], lap)
        return index, lap, data

    async def go(self) -> Results:
        config, loop, times = self.config, self.loop, self.times
        self.pool = Pool(
            self.target,
            config.max_connections,
            config.request_timeout_s,
            self.answered,
            self.failed,
        )
        started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.start = start = loop.time() + _START_DELAY_S
        cpu = time.process_time()
        epr = config.events_per_request
        self.offered = [0] * (int(times[-1]) + 1 if times else 0)
        for offset in times:
            self.offered[int(offset)] += 1
        self.tally.offered_requests = len(times)
        self.tally.offered_events = len(times) * epr
        ticker = loop.create_task(self._tick())
        submit = self.pool.submit
        k, count = 0, len(times)
        while k < count:
            now = loop.time()
            while k < count and start + times[k] <= now:
                scheduled = start + times[k]
                index, lap, data = self.request(k)
                send = _Send(index, lap, data, len(self.batches[index].event_ids), scheduled)
                self._sent(send, now)
                self.unfinished += 1
                submit(send, data)
                k += 1
            if k < count:
                await asyncio.sleep(start + times[k] - loop.time())
        self.scheduling = False
        if self.unfinished:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), config.drain_s)
        duration = loop.time() - start
        cpu = time.process_time() - cpu
        self.closed = True
        ticker.cancel()
        await self.pool.close()
        self._fold(len(self.timeline), final=True)
        return Results(
            config=config.model_dump(mode="json"),
            started_at=started_at,
            duration_s=duration,
            cpu_s=cpu,
            tally=self.tally,
            timeline=self.timeline,
            unfinished=self.unfinished,
            connect_errors=self.pool.connect_errors,
            batches=self.batches,
            acked=self.acked,
        )

    # -- answers ---------------------------------------------------------------------------

    def answered(self, send: _Send, answer: Answer) -> None:
        if self.closed:
            return
        now = self.loop.time()
        second, tally, status = self._second_of(now), self.tally, answer.status
        tally.statuses[status] += 1
        latency_us = int((now - send.scheduled) * 1e6)
        if 200 <= status < 300:
            rejected = _rejected(answer.body, send.events)
            if rejected is None:
                tally.unreadable_2xx += 1
                second.errors += 1
                self._done()
                return
            second.ok.record_value(latency_us)
            accepted = send.events - len(rejected)
            second.acked_events += accepted
            tally.acked_requests += 1
            tally.acked_events += accepted
            tally.rejected_events += len(rejected)
            self.acked.append((send.index, send.lap, rejected))
            if send.attempt > 1:
                tally.delivered_after_retry.record_value(int((now - send.first_scheduled) * 1e6))
            self._done()
        elif status in _SHED or status >= 500:
            if status in _SHED:
                second.shed += 1
                second.shed_latency.record_value(latency_us)
            else:
                second.errors += 1
            self._retry(send, _retry_after(answer))
        else:  # the client's fault: sending it again would not help
            second.errors += 1
            tally.refused_events += send.events
            self._done()

    def failed(self, send: _Send, why: str) -> None:
        if self.closed:
            return
        self._second_of(self.loop.time()).errors += 1
        self.tally.failures[why] += 1
        self._retry(send, None)

    def _retry(self, send: _Send, after_s: float | None) -> None:
        if send.attempt >= self.config.max_attempts:
            self.tally.gave_up_requests += 1
            self.tally.gave_up_events += send.events
            self._done()
            return
        if after_s is None:
            after_s = self.config.retry_backoff_s * 2 ** (send.attempt - 1)
        self.tally.retries += 1
        due = self.loop.time() + after_s
        self.loop.call_at(due, self._resend, send, due)

    def _resend(self, send: _Send, due: float) -> None:
        if self.closed:
            return
        # The same body and ids; sent_at moves on by the time since the first send, as an SDK
        # stamps each send (the collector corrects event times with it).
        body_at = self.requests[send.index][1]
        waited_ms = round((due - send.first_scheduled) * 1000)
        sent_at = sent_at_of(self.requests[send.index][0], body_at) + waited_ms
        send.data = with_sent_at(send.data, sent_at, body_at)
        send.attempt += 1
        send.scheduled = due
        self._sent(send, self.loop.time())
        self.pool.submit(send, send.data)

    def _sent(self, send: _Send, now: float) -> None:
        self.tally.sent += 1
        second = self._second_of(now)
        second.sent += 1
        second.lag.record_value(int((now - send.scheduled) * 1e6))

    def _done(self) -> None:
        self.unfinished -= 1
        if not self.scheduling and self.unfinished == 0:
            self.drained.set()

    # -- seconds ---------------------------------------------------------------------------

    def _second_of(self, at: float) -> Second:
        n = max(len(self.timeline), int(at - self.start))
        while len(self.seconds) <= n:
            offered = self.offered[n] if n < len(self.offered) else 0
            self.seconds.append(Second(offered, offered * self.config.events_per_request))
        return self.seconds[n]  # type: ignore[return-value]

    async def _tick(self) -> None:
        while True:
            done = len(self.timeline)
            await asyncio.sleep(max(0.0, self.start + done + 1 - self.loop.time()))
            self._fold(done + 1)

    def _fold(self, upto: int, final: bool = False) -> None:
        """Closes the seconds before ``upto`` (all of them when ``final``): their row goes into
        the timeline, their histograms into the totals, and they are let go."""
        tally = self.tally
        if not final:
            self._second_of(self.start + upto - 1)  # a silent second still gets its row
        last = len(self.seconds) if final else upto
        for n in range(len(self.timeline), last):
            second = self.seconds[n]
            assert second is not None
            row = second.row(n)
            self.timeline.append(row)
            tally.ok.add(second.ok)
            tally.shed_latency.add(second.shed_latency)
            tally.lag.add(second.lag)
            self.seconds[n] = None  # its histograms are let go
            if self.config.progress:
                progress_line(n + 1, second, tally, self.pool.in_flight, sys.stderr)
            if self.on_second:
                self.on_second(row)


def _rejected(body: bytes, events: int) -> frozenset[int] | None:
    """Indexes the answer rejected; None when it does not say."""
    if _NOTHING_REJECTED in body:
        return frozenset()
    try:
        rejected = orjson.loads(body)["rejected"]
        indexes = frozenset(int(r["index"]) for r in rejected)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return indexes if all(0 <= i < events for i in indexes) else None


def _retry_after(answer: Answer) -> float | None:
    value = answer.header(b"retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(value.decode("latin-1"))
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def run_async(
    config: LoadConfig, on_second: Callable[[dict[str, Any]], None] | None = None
) -> Results:
    """One run on the running loop; ``on_second`` gets each second's timeline row."""
    return await _Run(config, on_second).go()


def run(config: LoadConfig, on_second: Callable[[dict[str, Any]], None] | None = None) -> Results:
    """One run on a new uvloop loop (asyncio's where uvloop is missing)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(run_async(config, on_second))
    return uvloop.run(run_async(config, on_second))
