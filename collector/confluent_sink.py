"""The Kafka sink on confluent-kafka (librdkafka): the default, measured against aiokafka.

The same three promises as the aiokafka sink (kafka_sink.py):
- ``send_batch`` returns only once the broker acknowledged every record (acks=all, idempotent
  producer), and otherwise raises SINK_UNAVAILABLE within ``delivery_timeout_s``. librdkafka's
  own ``message.timeout.ms`` is that deadline too, so a record it could not deliver in time is
  reported failed and dropped from its queue instead of lingering;
- memory is bounded: at most ``max_pending_bytes`` of records are handed over and not yet
  settled (librdkafka's ``queue.buffering.max.kbytes`` is set just above it as a backstop:
  ``BufferError`` is a 503 too);
- health is known: a delivery that fails or times out, or librdkafka reporting every broker
  down, marks Kafka unavailable and requests are refused at once; the watcher probes the
  cluster's metadata every ``health_interval_s`` when nothing else proved it up, brings the sink
  back by itself, and rebuilds the producer after a fatal error.

Why this client: ``produce()`` is one C call per record (1-1.5 µs, against about 12 µs for
aiokafka's ``send()``), and batching, compression and the network run in librdkafka's own
threads without the GIL. ``bench/bench_collector.py --sink``, lz4, linger 10 ms: about 4 µs
of CPU per event (all threads) and ~75,000 events/s from one process, against about 20 µs and
~28,000 events/s for the aiokafka sink.

Delivery reports: librdkafka hands them over in ``poll()``, called here on the event loop (a
1 ms timer while records are outstanding, none when idle), so the reports resolve futures on
the loop's own thread. Measured against a poll thread handing each report over with
``call_soon_threadsafe``: 4.2 against 6.2 µs of CPU per event, and more events/s. One callback
object per request counts its records down and wakes the request once.

Partitioning is librdkafka's ``consistent_random``: CRC-32 of the key modulo the partition
count, the same as the aiokafka sink's (a keyless record goes to a random partition).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Producer

from collector.metrics import Metrics
from collector.producer_sink import ProducerSink, unavailable
from collector.records import Record
from collector.settings import CollectorSettings

log = logging.getLogger(__name__)

# librdkafka's own queue: a little above ours, so that ours (a clean 503 before anything is
# produced) is the one that refuses.
_QUEUE_SLACK = 1.25


class _Delivery:
    """The delivery reports of one ``send_batch``: counted down, the request woken once."""

    __slots__ = ("error", "future", "generation", "left", "sink", "size")

    def __init__(self, sink: ConfluentSink, future: asyncio.Future, size: int, generation: int):
        self.sink = sink
        self.future = future
        self.size = size
        self.generation = generation
        self.left = 0
        self.error: KafkaError | None = None

    def __call__(self, err: KafkaError | None, _msg: object) -> None:
        if threading.get_ident() != self.sink._loop_thread:
            # Served by close() on its thread (the loop serves every report but those): the
            # futures are the loop's to touch.
            self.sink._loop.call_soon_threadsafe(self, err, _msg)
            return
        if err is not None and self.error is None:
            self.error = err
        self.left -= 1
        if self.left == 0:
            self.settled()

    def settled(self) -> None:
        self.sink._give_back(self.size, self.generation)
        if not self.future.done():
            self.future.set_result(None)
        elif self.error is not None:  # the request was answered 503 already: health only
            self.sink._delivery_failed(self.error)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class ConfluentSink(ProducerSink):
    def __init__(self, settings: CollectorSettings, metrics: Metrics):
        super().__init__(settings, metrics)
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._poll_s = settings.poll_interval_ms / 1000

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await super().start()

    # --- the request path

    async def send_batch(self, events: Sequence[Record], dead: Sequence[Record]) -> None:
        producer = self._producer
        if producer is None or not self._healthy:
            raise unavailable("Kafka is not available: retry later")
        size = 0
        for r in events:
            size += len(r.value)
        for r in dead:
            size += len(r.value)
        if self._pending + size > self._settings.max_pending_bytes:
            raise unavailable("Kafka is not keeping up: retry later")
        loop = self._loop
        started = time.monotonic()
        future = loop.create_future()
        delivery = _Delivery(self, future, size, self._generation)
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
            raise unavailable("Kafka is not keeping up: retry later") from None
        except KafkaException as exc:
            self._withdraw(delivery, produced)
            self._delivery_failed(exc.args[0] if exc.args else None)
            raise unavailable("Kafka is not available: retry later") from None
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
            raise unavailable(
                f"Kafka did not acknowledge within {self._settings.delivery_timeout_s:g} s"
            ) from None
        finally:
            deadline.cancel()
        if delivery.error is not None:
            self._delivery_failed(delivery.error)
            raise unavailable("Kafka refused the records: retry later")
        self._last_ok = now = time.monotonic()
        self._metrics.delivery_seconds.observe(now - started)
        if not self._healthy:
            self._set_healthy(True, "delivered")

    def _withdraw(self, delivery: _Delivery, produced: int) -> None:
        """The request is answered 503 now. Records produced stay pending until reported."""
        delivery.future.cancel()
        if produced == 0:
            self._give_back(delivery.size, delivery.generation)

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

    def _serve(self, producer: Producer) -> None:
        producer.poll(0)  # error events, when no request polls

    async def _restart_producer(self) -> None:
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
        self._adopt(producer)

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
