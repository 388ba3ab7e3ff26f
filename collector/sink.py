"""Where records go: a small protocol, and an in-memory sink for tests.

``send_batch`` returns only once every record is acknowledged (the events and the rejected
ones alike), or raises ``CollectorError(SINK_UNAVAILABLE)``: the caller answers 200 or 503 on
that alone. Routing is decided upstream (records.py); a sink is only mechanism.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from collector.errors import Cause, CollectorError
from collector.records import Record


class Sink(Protocol):
    async def send_batch(self, events: Sequence[Record], dead: Sequence[Record]) -> None: ...

    def is_healthy(self) -> bool: ...

    def pending_bytes(self) -> int:
        """Bytes handed to the sink and not yet acknowledged (the producer's queue)."""
        ...


class MemorySink:
    """Keeps records in lists. ``fail`` makes sends raise, ``delay_s`` makes them slow."""

    def __init__(self) -> None:
        self.events: list[Record] = []
        self.dead: list[Record] = []
        self.fail = False
        self.delay_s = 0.0
        self.calls = 0

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
