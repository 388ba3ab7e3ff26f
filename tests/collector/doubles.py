"""Test doubles of the collector: a sink that keeps records in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from collector.errors import Cause, CollectorError
from collector.records import Record


class MemorySink:
    """A Sink keeping records in lists. ``fail`` makes sends raise, ``delay_s`` makes them slow."""

    def __init__(self) -> None:
        self.events: list[Record] = []
        self.dead: list[Record] = []
        self.fail = False
        self.delay_s = 0.0
        self.calls = 0

    async def start(self) -> None:
        pass

    async def close(self, flush_timeout_s: float) -> None:
        pass

    async def send_batch(self, events: Sequence[Record], dead: Sequence[Record]) -> None:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise CollectorError(Cause.SINK_UNAVAILABLE, "Kafka is not available: retry later")
        self.events.extend(events)
        self.dead.extend(dead)

    def is_healthy(self) -> bool:
        return not self.fail

    def pending_bytes(self) -> int:
        return 0
