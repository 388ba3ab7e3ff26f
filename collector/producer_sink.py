"""What both Kafka sinks share: one producer, kept healthy by a watcher, and its byte count.

A subclass (kafka_sink.py on aiokafka, confluent_sink.py on librdkafka) sends the records and
knows its client: how to start a producer (``_restart_producer``, ending in ``_adopt``), stop
one, and ask the cluster whether it can take records (``_probe``). This class keeps the rest:
- health: ``_set_healthy`` logs each change and sets the gauge; the watcher probes the cluster
  every ``health_interval_s`` when no delivery proved it up lately, and starts a producer
  when there is none or the current one is broken (a fatal error), so the collector comes up
  (not ready) while Kafka is down and comes back by itself;
- memory: ``_pending`` counts the bytes handed to the producer and not yet settled; each
  producer is a new ``_generation``, and bytes counted with a producer that is gone are not
  given back to the new one's count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from collector.errors import Cause, CollectorError
from collector.metrics import Metrics
from collector.settings import CollectorSettings

log = logging.getLogger(__name__)


class ProducerSink:
    def __init__(self, settings: CollectorSettings, metrics: Metrics):
        self._settings = settings
        self._metrics = metrics
        self._producer: Any = None
        self._healthy = False
        self._broken = False  # the producer failed in a way it will not recover from
        self._last_ok = 0.0  # time.monotonic() of the last proof that Kafka takes records
        self._pending = 0
        self._generation = 0  # bumped with each new producer: its records are counted anew
        self._watcher: asyncio.Task[None] | None = None

    # --- lifecycle

    async def start(self) -> None:
        self._watcher = asyncio.create_task(self._watch(), name="kafka-sink-watcher")

    async def close(self, flush_timeout_s: float) -> None:
        """Stop watching, then flush what the producer holds (bounded: Kafka may be gone)."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self._healthy = False
        await self._stop_producer(flush_timeout_s)

    def is_healthy(self) -> bool:
        return self._healthy

    def pending_bytes(self) -> int:
        return self._pending

    # --- what a subclass provides

    async def _restart_producer(self) -> None:
        """Stop the current producer, start a new one and ``_adopt`` it, or say why not."""
        raise NotImplementedError

    async def _stop_producer(self, timeout_s: float) -> None:
        raise NotImplementedError

    async def _probe(self, producer: Any, timeout_s: float) -> bool:
        """Whether the cluster answers and every partition of our topics has a leader."""
        raise NotImplementedError

    def _serve(self, producer: Any) -> None:
        """Called by the watcher on each round: the client's chance to serve its events."""

    # --- for subclasses

    def _adopt(self, producer: Any) -> None:
        """A started producer is the one requests use from now on."""
        self._producer, self._broken = producer, False
        self._generation += 1
        self._pending = 0
        self._last_ok = time.monotonic()
        self._set_healthy(True, "producer started")

    def _give_back(self, size: int, generation: int) -> None:
        if generation == self._generation:  # else counted with a producer now gone
            self._pending -= size

    def _set_healthy(self, healthy: bool, why: str) -> None:
        if healthy != self._healthy:
            level = logging.INFO if healthy else logging.WARNING
            message = "kafka available" if healthy else "kafka unavailable"
            log.log(level, message, extra={"reason": why})
        self._healthy = healthy
        self._metrics.sink_healthy.set(1 if healthy else 0)

    async def _watch(self) -> None:
        interval = self._settings.health_interval_s
        while True:
            try:
                if self._producer is None or self._broken:
                    await self._restart_producer()
                else:
                    self._serve(self._producer)
                    if time.monotonic() - self._last_ok > interval:
                        ok = await self._probe(self._producer, interval)
                        self._set_healthy(ok, "probe" if ok else "probe failed")
            except Exception:  # the watcher must outlive anything Kafka throws at it
                log.exception("kafka watcher error")
                self._set_healthy(False, "watcher error")
            await asyncio.sleep(interval)


def unavailable(message: str) -> CollectorError:
    return CollectorError(Cause.SINK_UNAVAILABLE, message)
