"""Where records go: a small ``Sink`` protocol, and the Kafka sink on confluent-kafka.

A sink is only mechanism: which topic and key a record gets is decided upstream (records.py).
``send_batch`` returns only once every record is acknowledged (the events and the rejected ones
alike), or raises ``CollectorError(SINK_UNAVAILABLE)``: the caller answers 200 or 503 on that
alone.

The Kafka sink keeps three promises:
- delivery: acks=all, idempotent producer; ``send_batch`` raises within
  ``delivery_timeout_s`` when the broker did not acknowledge. librdkafka's own
  ``message.timeout.ms`` is that deadline too, so a record it could not deliver in time is
  reported failed and dropped from its queue instead of lingering (a client retry may then
  duplicate a record delivered late: reports drop duplicates by ``event_id``);
- memory is bounded: at most ``max_pending_bytes`` of records are handed over and not yet
  settled; past that, requests are refused at once instead of queueing (librdkafka's
  ``queue.buffering.max.kbytes`` is set just above it as a backstop: ``BufferError`` is a 503
  too);
- health is known: a delivery that fails or times out, or librdkafka reporting every broker
  down, marks Kafka unavailable and requests are refused at once. A watcher probes the
  cluster's metadata every ``health_interval_s`` when no delivery proved it up lately, and
  starts a producer when there is none or the current one hit a fatal error: the collector
  comes up (not ready) while Kafka is down and comes back by itself.

Why confluent-kafka (librdkafka): ``produce()`` is one C call per record, and batching,
compression and the network run in librdkafka's own threads, without the GIL. It was measured
against aiokafka with ``bench/bench_collector.py --sink``.

Delivery reports: librdkafka hands them over in ``poll()``, called here on the event loop (a
timer every ``poll_interval_ms`` while records are outstanding, none when idle), so reports
resolve futures on the loop's own thread without a hand-over between threads. One callback
object per request counts its records down and wakes the request once.

Partitioning is librdkafka's ``consistent_random``: CRC-32 of the key modulo the partition
count, deterministic across workers and restarts (per-device order); a keyless record goes to
a random partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from collector.errors import Cause, CollectorError
from collector.metrics import Metrics
from collector.records import Record
from collector.settings import CollectorSettings

log = logging.getLogger(__name__)

# librdkafka's own queue: a little above ours, so that ours (a clean 503 before anything is
# produced) is the one that refuses.
_QUEUE_SLACK = 1.25


class Sink(Protocol):
    async def start(self) -> None: ...

    async def close(self, flush_timeout_s: float) -> None:
        """Stop, flushing what was handed over (bounded: Kafka may be gone)."""
        ...

    async def send_batch(self, events: Sequence[Record], dead: Sequence[Record]) -> None: ...

    def is_healthy(self) -> bool: ...

    def pending_bytes(self) -> int:
        """Bytes handed to the sink and not yet acknowledged (the producer's queue)."""
        ...


class _Delivery:
    """The delivery reports of one ``send_batch``: counted down, then ``settled`` once."""

    __slots__ = ("error", "future", "generation", "left", "loop", "settled", "size", "thread")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future,
        size: int,
        generation: int,
        settled: Callable[[_Delivery], None],
    ):
        self.loop = loop
        self.thread = threading.get_ident()  # the loop's: send_batch runs on it
        self.future = future
        self.size = size
        self.generation = generation
        self.settled = settled
        self.left = 0
        self.error: KafkaError | None = None

    def __call__(self, err: KafkaError | None, _msg: object) -> None:
        if threading.get_ident() != self.thread:
            # Served by close() on its own thread (the loop serves every report but those):
            # the futures are the loop's to touch.
            self.loop.call_soon_threadsafe(self, err, _msg)
            return
        if err is not None and self.error is None:
            self.error = err
        self.left -= 1
        if self.left == 0:
            self.settled(self)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _unavailable(message: str) -> CollectorError:
    return CollectorError(Cause.SINK_UNAVAILABLE, message)


class KafkaSink:
    def __init__(self, settings: CollectorSettings, metrics: Metrics):
        self._settings = settings
        self._metrics = metrics
        self._producer: Producer | None = None
        self._healthy = False
        self._broken = False  # the producer failed in a way it will not recover from
        self._last_ok = 0.0  # time.monotonic() of the last proof that Kafka takes records
        # Bytes handed to the producer and not yet settled. Each producer is a new generation:
        # bytes counted with a producer that is gone are not given back to the new one's count.
        self._pending = 0
        self._generation = 0
        self._watcher: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poll_s = settings.poll_interval_ms / 1000

    # --- lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
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

    # --- the request path

    async def send_batch(self, events: Sequence[Record], dead: Sequence[Record]) -> None:
        producer = self._producer
        if producer is None or not self._healthy:
            raise _unavailable("Kafka is not available: retry later")
        size = 0
        for r in events:
            size += len(r.value)
        for r in dead:
            size += len(r.value)
        if self._pending + size > self._settings.max_pending_bytes:
            raise _unavailable("Kafka is not keeping up: retry later")
        loop = self._loop
        started = time.monotonic()
        future = loop.create_future()
        delivery = _Delivery(loop, future, size, self._generation, self._settle)
        self._pending += size
        produce = producer.produce
        produced = 0
        try:
            topic = self._settings.topic
            for r in events:
                produce(topic, r.value, r.key, on_delivery=delivery)
                produced += 1
            topic = self._settings.dlq_topic
            for r in dead:
                produce(topic, r.value, r.key, on_delivery=delivery)
                produced += 1
        except BufferError:
            self._withdraw(delivery, produced)
            raise _unavailable("Kafka is not keeping up: retry later") from None
        except KafkaException as exc:
            self._withdraw(delivery, produced)
            self._delivery_failed(exc.args[0] if exc.args else None)
            raise _unavailable("Kafka is not available: retry later") from None
        finally:
            # Reports may already be waiting (an earlier request's), and the counting of this
            # one starts only now: poll() is never called while this method runs.
            delivery.left += produced
            if self._timer is None:
                self._timer = loop.call_later(self._poll_s, self._tick)
        if not produced:  # nothing to wait for
            return
        deadline = loop.call_later(self._settings.delivery_timeout_s, _expire, future)
        try:
            await future
        except TimeoutError:
            self._set_healthy(False, "no acknowledgement within the delivery deadline")
            raise _unavailable(
                f"Kafka did not acknowledge within {self._settings.delivery_timeout_s:g} s"
            ) from None
        finally:
            deadline.cancel()
        if delivery.error is not None:
            self._delivery_failed(delivery.error)
            raise _unavailable("Kafka refused the records: retry later")
        self._last_ok = now = time.monotonic()
        self._metrics.delivery_seconds.observe(now - started)
        if not self._healthy:
            self._set_healthy(True, "delivered")

    def _settle(self, delivery: _Delivery) -> None:
        """Every record of a request reported: its bytes are given back, the request woken."""
        self._give_back(delivery.size, delivery.generation)
        if not delivery.future.done():
            delivery.future.set_result(None)
        elif delivery.error is not None:  # the request was answered 503 already: health only
            self._delivery_failed(delivery.error)

    def _withdraw(self, delivery: _Delivery, produced: int) -> None:
        """The request is answered 503 now. Records produced stay pending until reported."""
        delivery.future.cancel()
        if produced == 0:
            self._give_back(delivery.size, delivery.generation)

    def _give_back(self, size: int, generation: int) -> None:
        if generation == self._generation:  # else counted with a producer now gone
            self._pending -= size

    def _tick(self) -> None:
        """Serve delivery reports while records are outstanding."""
        self._timer = None
        producer = self._producer
        if producer is None:
            return
        producer.poll(0)
        if len(producer):
            self._timer = self._loop.call_later(self._poll_s, self._tick)

    # --- health

    def _set_healthy(self, healthy: bool, why: str) -> None:
        if healthy != self._healthy:
            level = logging.INFO if healthy else logging.WARNING
            message = "kafka available" if healthy else "kafka unavailable"
            log.log(level, message, extra={"reason": why})
        self._healthy = healthy
        self._metrics.sink_healthy.set(1 if healthy else 0)

    def _delivery_failed(self, error: KafkaError | None) -> None:
        if error is not None and error.fatal():
            self._broken = True
        name = error.name() if error is not None else "unknown"
        self._set_healthy(False, f"delivery failed: {name}")

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka's error events (from poll): fatal ones, or every broker down."""
        if error.fatal():
            self._broken = True
            self._set_healthy(False, f"fatal producer error {error.name()}")
        elif error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._set_healthy(False, "all brokers down")

    async def _watch(self) -> None:
        interval = self._settings.health_interval_s
        while True:
            try:
                if self._producer is None or self._broken:
                    await self._restart_producer()
                else:
                    self._producer.poll(0)  # error events, when no request polls
                    if time.monotonic() - self._last_ok > interval:
                        ok = await self._probe(self._producer, interval)
                        self._set_healthy(ok, "probe" if ok else "probe failed")
            except Exception:  # the watcher must outlive anything Kafka throws at it
                log.exception("kafka watcher error")
                self._set_healthy(False, "watcher error")
            await asyncio.sleep(interval)

    async def _probe(self, producer: Producer, timeout_s: float) -> bool:
        """The cluster answers metadata and every partition of our topics has a leader."""
        topics = (self._settings.topic, self._settings.dlq_topic)
        try:
            metadata = await asyncio.get_running_loop().run_in_executor(
                None, lambda: producer.list_topics(timeout=timeout_s)
            )
        except KafkaException:
            return False
        for name in topics:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                return False
            if any(p.leader < 0 or p.error is not None for p in topic.partitions.values()):
                return False
        return True

    # --- the producer

    async def _restart_producer(self) -> None:
        """Stop the current producer, start a new one and adopt it, or say why not."""
        await self._stop_producer(self._settings.delivery_timeout_s)
        try:
            producer = Producer(self._config())
        except KafkaException as exc:  # a bad setting: say so, and keep trying
            self._set_healthy(False, f"cannot create producer: {exc}")
            return
        if not await self._probe(producer, max(5.0, self._settings.health_interval_s)):
            self._set_healthy(False, "cannot start producer: Kafka not reachable")
            await self._discard(producer)
            return
        # Requests use this one from now on; its records are counted anew.
        self._producer, self._broken = producer, False
        self._generation += 1
        self._pending = 0
        self._last_ok = time.monotonic()
        self._set_healthy(True, "producer started")

    async def _stop_producer(self, timeout_s: float) -> None:
        producer, self._producer = self._producer, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if producer is None:
            return
        deadline = time.monotonic() + timeout_s
        while len(producer) and time.monotonic() < deadline:
            producer.poll(0)  # reports still resolve the requests waiting on them
            await asyncio.sleep(0.005)
        if len(producer):
            log.warning("kafka producer not flushed", extra={"records": len(producer)})
        await self._discard(producer)

    async def _discard(self, producer: Producer) -> None:
        # Whatever is left fails now: its requests get their 503 from the reports, served
        # here, on the loop (close() would serve them on its own thread).
        producer.purge()
        for _ in range(100):
            producer.poll(0)
            if not len(producer):
                break
            await asyncio.sleep(0.01)
        # Closing joins librdkafka's threads: not on the event loop.
        await asyncio.get_running_loop().run_in_executor(None, producer.close)

    def _config(self) -> dict:
        s = self._settings
        deadline_ms = int(s.delivery_timeout_s * 1000)
        config = {
            "bootstrap.servers": s.kafka_bootstrap,
            "client.id": f"surge-collector-{os.getpid()}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": s.linger_ms,
            "batch.size": s.max_batch_bytes,
            "compression.type": s.compression,
            # A record not acknowledged by the request's deadline is dropped, reported failed.
            "message.timeout.ms": max(deadline_ms, s.linger_ms + 1),
            "queue.buffering.max.kbytes": max(1, int(s.max_pending_bytes * _QUEUE_SLACK) // 1024),
            "queue.buffering.max.messages": 10_000_000,  # bytes are the bound
            "partitioner": "consistent_random",
            # Back within a second of the broker's return, however long the outage.
            "reconnect.backoff.max.ms": 1000,
            "error_cb": self._on_error,
            # Its log lines through ours (served by poll()), not its own format on stderr.
            "logger": logging.getLogger("librdkafka"),
        }
        if s.compression_level is not None and s.compression != "none":
            config["compression.level"] = s.compression_level
        return config
