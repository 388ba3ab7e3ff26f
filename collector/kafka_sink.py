"""The Kafka sink on aiokafka (``kafka_client=aiokafka``): acks=all, idempotent, compressed,
batched by linger. The default is confluent_sink.py: its ``produce()`` costs about a fifth of
the CPU per event of this one (``bench/bench_collector.py --sink``). This one stays as the
pure-Python choice (no native library to ship), tested against the same contract.

Three promises:
- ``send_batch`` returns only once the broker acknowledged every record, and otherwise raises
  SINK_UNAVAILABLE within ``delivery_timeout_s`` (records already handed over may still be
  delivered later: a client retry then duplicates them, and reports drop duplicates by
  ``event_id``);
- memory is bounded: at most ``max_pending_bytes`` of records are handed over and not yet
  acknowledged; past that, requests are refused at once instead of queueing;
- health is known: a delivery that fails or times out marks Kafka unavailable, and requests are
  then refused at once (no 1 s wait each); a watcher probes the cluster every
  ``health_interval_s`` when nothing else proved it up, and brings the sink back by itself,
  rebuilding the producer if it broke. The producer is also started by the watcher, so the
  collector comes up (not ready) while Kafka is down. The watcher, the health and the byte
  count are shared with confluent_sink.py (producer_sink.py).

Partitioning is CRC-32 of the key modulo the partition count: deterministic across workers and
restarts (per-device order), the same as librdkafka's "consistent" partitioner, and a C call
where aiokafka's default murmur2 is pure Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import zlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.structs import TopicPartition

from collector.metrics import Metrics
from collector.producer_sink import ProducerSink, unavailable
from collector.records import Record
from collector.settings import CollectorSettings

log = logging.getLogger(__name__)


def crc32_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[zlib.crc32(key) % len(all_partitions)]


class KafkaSink(ProducerSink):
    # --- the request path

    async def send_batch(self, events: Sequence[Record], dead: Sequence[Record]) -> None:
        producer = self._producer
        if producer is None or not self._healthy:
            raise unavailable("Kafka is not available: retry later")
        size = sum(len(r.value) for r in events) + sum(len(r.value) for r in dead)
        if self._pending + size > self._settings.max_pending_bytes:
            raise unavailable("Kafka is not keeping up: retry later")
        started = time.monotonic()
        generation = self._generation
        self._pending += size
        futures: list[asyncio.Future] = []
        try:
            async with asyncio.timeout(self._settings.delivery_timeout_s):
                # Cancelling send() on timeout withdraws a record not yet queued.
                for record in events:
                    futures.append(
                        await producer.send(self._settings.topic, record.value, key=record.key)
                    )
                for record in dead:
                    futures.append(
                        await producer.send(self._settings.dlq_topic, record.value, key=record.key)
                    )
                acks = asyncio.gather(*futures, return_exceptions=True)
                # asyncio.wait, not await: a timeout must not cancel the records' futures.
                await asyncio.wait([acks])
        except TimeoutError:
            self._give_back_when_settled(futures, size, generation)
            self._set_healthy(False, "no acknowledgement within the delivery deadline")
            raise unavailable(
                f"Kafka did not acknowledge within {self._settings.delivery_timeout_s:g} s"
            ) from None
        except KafkaTimeoutError:
            self._give_back_when_settled(futures, size, generation)
            raise unavailable("Kafka is not keeping up: retry later") from None
        except KafkaError as exc:
            self._give_back_when_settled(futures, size, generation)
            self._broken = True
            self._set_healthy(False, f"producer error {type(exc).__name__}")
            raise unavailable("Kafka is not available: retry later") from None
        self._give_back(size, generation)
        failed = next((r for r in acks.result() if isinstance(r, BaseException)), None)
        if failed is not None:
            # aiokafka retries what can be retried: what fails is final for this producer
            # (OutOfOrderSequenceNumber after a broker restart, for one). A new one starts clean.
            self._broken = True
            self._set_healthy(False, f"delivery failed: {type(failed).__name__}")
            raise unavailable("Kafka refused the records: retry later")
        self._last_ok = time.monotonic()
        self._metrics.delivery_seconds.observe(self._last_ok - started)
        if not self._healthy:
            self._set_healthy(True, "delivered")

    def _give_back_when_settled(
        self, futures: list[asyncio.Future], size: int, generation: int
    ) -> None:
        # Records already queued stay in the producer (and count) until Kafka settles them,
        # or until that producer is replaced.
        if not futures:
            self._give_back(size, generation)
            return
        settled = asyncio.gather(*futures, return_exceptions=True)
        settled.add_done_callback(lambda _: self._give_back(size, generation))

    # --- the producer

    async def _restart_producer(self) -> None:
        await self._stop_producer(self._settings.delivery_timeout_s)
        producer = self._new_producer()
        try:
            async with asyncio.timeout(max(5.0, self._settings.health_interval_s)):
                await producer.start()
                # Both topics known from the start: the probe checks their leaders, and a
                # missing topic keeps the collector not ready.
                for topic in (self._settings.topic, self._settings.dlq_topic):
                    await producer.partitions_for(topic)
        except (KafkaError, OSError, TimeoutError) as exc:
            self._set_healthy(False, f"cannot start producer: {type(exc).__name__}")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 1.0)
            return
        self._adopt(producer)

    async def _stop_producer(self, timeout_s: float) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            await asyncio.wait_for(producer.stop(), timeout_s)
        except (TimeoutError, KafkaError) as exc:
            log.warning("kafka producer not flushed", extra={"reason": type(exc).__name__})

    async def _probe(self, producer: AIOKafkaProducer, timeout_s: float) -> bool:
        """The cluster answers metadata and every partition of our topics has a reachable
        leader."""
        client = producer.client
        try:
            async with asyncio.timeout(timeout_s):
                if not await client.force_metadata_update():
                    return False
                leaders = set()
                for topic in (self._settings.topic, self._settings.dlq_topic):
                    partitions = client.cluster.partitions_for_topic(topic)
                    if not partitions:
                        return False
                    for partition in partitions:
                        leader = client.cluster.leader_for_partition(
                            TopicPartition(topic, partition)
                        )
                        if leader is None or leader < 0:
                            return False
                        leaders.add(leader)
                for leader in leaders:
                    if not await client.ready(leader):
                        return False
        except (TimeoutError, KafkaError, OSError):
            return False
        return True

    def _new_producer(self) -> AIOKafkaProducer:
        s = self._settings
        return AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap,
            client_id=f"surge-collector-{os.getpid()}",
            acks="all",
            enable_idempotence=True,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            max_batch_size=s.max_batch_bytes,
            # Broker round trips; the request's own deadline is delivery_timeout_s.
            request_timeout_ms=max(5000, int(s.delivery_timeout_s * 1000)),
            partitioner=crc32_partitioner,
        )


def new_sink(settings: CollectorSettings, metrics: Metrics):
    """The Kafka sink of ``settings.kafka_client``: KafkaSink (aiokafka) or ConfluentSink."""
    if settings.kafka_client == "aiokafka":
        return KafkaSink(settings, metrics)
    from collector.confluent_sink import ConfluentSink

    return ConfluentSink(settings, metrics)
