"""The consumer loop: a Kafka consumer group driving one PartitionWriter per partition.

One loop does everything in order (poll, recover, buffer, publish, commit), so a writer is
only ever touched by one step at a time. Blocking work (Arrow, Parquet, HDFS) runs in threads
while the event loop keeps aiokafka's heartbeats going, under `_busy`, which the rebalance
listener also takes: a partition is never dropped in the middle of a step.

A rotation is published in two phases. Preparing it (Parquet encoding and the temp files:
the CPU and the bytes, GIL released, and nothing anyone reads) runs in the background while
the loop goes on decoding into fresh buffers. Finishing it (the log, the renames) runs in
the loop, and never while a preparation runs: new preparations wait while a finish is due.
So a crash, wherever it comes, leaves a logged publish only where the one-step-at-a-time
loop could (between a log and its renames of the same round of publishes).

- Assigned: a fresh writer, its partition paused until `recover()` found the next offset on
  storage; then seek there and resume. Kafka's committed offset is never trusted.
- Revoked: the writer and its unpublished buffers are dropped. Publishing them instead would
  stall every member's rebalance on HDFS and leave small files; the records are still in
  Kafka and the next owner reads them from the last published offset.
- Storage down or slow: the failing partition is paused and its publish retried from the
  failed step with exponential backoff; it resumes on the first success.
- Kafka down: polls come back empty and commits time out; aiokafka reconnects by itself.
- Offsets are committed to Kafka after each publish, for lag monitoring only.
- `stop()` (SIGTERM): publish what is buffered, commit, leave the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from stream.buffer import ParquetOptions
from stream.dlq import dlq_value
from stream.landed import landed_files, last_offsets
from stream.metrics import Metrics, total
from stream.partition_writer import (
    FaultHook,
    Limits,
    PartitionWriter,
    Publish,
    Rejected,
    State,
    no_fault,
)
from stream.settings import LanderSettings
from stream.storage import Storage, StorageError, open_storage
from stream.wal import LostFileError

log = logging.getLogger(__name__)
# A publish past its temp files: finished in the loop (partition_writer.State).
_FINISHING = (State.TEMP_WRITTEN, State.WAL_WRITTEN, State.RENAMED)
POLL_TIMEOUT_MS = 500  # the loop's tick: age rotations and retries are checked this often
COMMIT_TIMEOUT_S = 10.0


@dataclass
class Backoff:
    """When a failing partition may try again: exponential, with jitter, capped."""

    initial_s: float
    max_s: float
    attempts: int = 0
    due_at: float = 0.0

    def failed(self, now: float) -> float:
        self.attempts += 1
        wait = min(self.max_s, self.initial_s * 2 ** (self.attempts - 1))
        wait *= random.uniform(0.5, 1.0)  # landers that failed together do not retry together
        self.due_at = now + wait
        return wait

    def succeeded(self) -> None:
        self.attempts, self.due_at = 0, 0.0

    def due(self, now: float) -> bool:
        return now >= self.due_at


@dataclass
class Assigned:
    """One assigned partition: its writer, and what the loop keeps beside it."""

    writer: PartitionWriter
    backoff: Backoff  # when its failed recovery or publish may try again
    preparing: asyncio.Task | None = None  # its rotation, being prepared in the background
    to_commit: int | None = None  # published through this offset, not yet committed


@dataclass
class Progress:
    """What the metrics do not tell, for the benchmark: when the work began and ended, where
    the loop's time went, and the size of each file (the metrics count rows, files, bytes)."""

    first_read_at: float | None = None
    last_published_at: float | None = None
    file_sizes: list[int] = field(default_factory=list)
    add_seconds: float = 0.0  # in writer.add: decoding and buffering
    prepare_seconds: float = 0.0  # preparing rotations in the background: summed, they overlap
    publish_seconds: float = 0.0  # finishing them (log, renames) while the loop waits


class Lander:
    def __init__(
        self,
        settings: LanderSettings,
        storage: Storage | None = None,
        metrics: Metrics | None = None,
        fault_hook: FaultHook = no_fault,
    ):
        """`fault_hook`: called at each of the writers' FAULT_POINTS, for fault tests."""
        self.settings = settings
        self.storage = storage or open_storage(
            settings.storage_url, settings.hdfs_user, settings.storage_timeout_s
        )
        self.metrics = metrics or Metrics()
        self.progress = Progress()
        self.partitions: dict[TopicPartition, Assigned] = {}
        self._limits = Limits(settings.rotate_rows, settings.rotate_bytes, settings.rotate_age_s)
        self._parquet = ParquetOptions(
            settings.compression, settings.compression_level, settings.row_group_rows
        )
        self._fault_hook = fault_hook
        self._busy = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._commit_task: asyncio.Task | None = None
        self._dlq_unsent = False
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    def stop(self) -> None:
        """Ask the loop to publish what it holds, commit and leave (safe from a signal handler)."""
        self._stopping.set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap,
            group_id=s.group,
            client_id=f"{s.group}-lander",
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # only when the recovered offset left retention
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=max(1000, s.session_timeout_ms // 3),
            max_poll_interval_ms=s.max_poll_interval_ms,
            max_partition_fetch_bytes=s.fetch_partition_bytes,
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap, acks="all", enable_idempotence=True
        )
        try:
            await self._start_clients()
            if self._stopping.is_set():
                return
            self.consumer.subscribe([s.topic], listener=_Listener(self))
            while not self._stopping.is_set():
                await self._step()
            await self._shutdown()
        finally:
            await self._wait_preparing(set(self.partitions))
            await self._close_clients()

    async def _start_clients(self) -> None:
        """Start both clients, waiting for Kafka as long as it takes (or until stopped)."""
        backoff = Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        for client in (self.consumer, self.producer):
            while not self._stopping.is_set():
                try:
                    await client.start()
                    break
                except KafkaError as exc:
                    wait = backoff.failed(time.monotonic())
                    log.warning("Kafka not reachable (%s); retrying in %.1f s", exc, wait)
                    await self._sleep(wait)

    async def _close_clients(self) -> None:
        for client in (self.consumer, self.producer):
            try:
                await client.stop()  # the consumer's stop leaves the group
            except Exception:
                log.warning("closing %s failed", type(client).__name__, exc_info=True)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    # -- the loop ----------------------------------------------------------------------------

    async def _step(self) -> None:
        batch = await self.consumer.getmany(
            timeout_ms=POLL_TIMEOUT_MS, max_records=self.settings.max_poll_records
        )
        async with self._busy:
            await self._recover_due()
            for tp, records in batch.items():
                await self._add(tp, records)
            await self._publish_due(force=None)
            self._update_lag()
        self._commit_soon()

    async def _add(self, tp: TopicPartition, records: list) -> None:
        part = self.partitions.get(tp)
        if part is None:  # revoked since the poll
            return
        writer = part.writer
        if self.progress.first_read_at is None:
            self.progress.first_read_at = time.monotonic()
        skipped, decoded = writer.skipped, dict(writer.decoded)
        started = time.monotonic()
        rejected = await asyncio.to_thread(writer.add, records)
        self.progress.add_seconds += time.monotonic() - started
        if writer.skipped > skipped:
            self.metrics.redelivered.inc(writer.skipped - skipped)
        for path, count in writer.decoded.items():
            if count > decoded[path]:
                self.metrics.decoded.labels(path).inc(count - decoded[path])
        if rejected:
            await self._send_dlq(tp, rejected)

    async def _send_dlq(self, tp: TopicPartition, rejected: list[Rejected]) -> None:
        """Every rejected record acknowledged by the DLQ topic before its offset is published."""
        backoff = Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        while True:
            try:
                futures = [
                    await self.producer.send(
                        self.settings.dlq_topic,
                        dlq_value(tp.topic, tp.partition, r),
                        key=r.key,
                    )
                    for r in rejected
                ]
                await asyncio.gather(*futures)
                break
            except KafkaError as exc:
                if self._stopping.is_set():
                    # Publishing past these records now could lose them: publish nothing more.
                    self._dlq_unsent = True
                    log.error("DLQ unreachable while stopping: %s", exc)
                    return
                wait = backoff.failed(time.monotonic())
                log.warning("DLQ send failed (%s); retrying in %.1f s", exc, wait)
                await self._sleep(wait)
        for r in rejected:
            self.metrics.dlq.labels(str(r.reason)).inc()
        log.info("%d record(s) of %s sent to the DLQ", len(rejected), tp)

    # -- recovery ----------------------------------------------------------------------------

    async def _recover_due(self) -> None:
        now = time.monotonic()
        due = {
            tp: part.writer
            for tp, part in self.partitions.items()
            if part.writer.state is State.RECOVERING and part.backoff.due(now)
        }
        if not due:
            return
        results = await asyncio.to_thread(self._recover_all, due)
        for tp, error in results.items():
            if error is None:
                part = self.partitions[tp]
                part.backoff.succeeded()
                self.consumer.seek(tp, due[tp].next_offset)
                self.consumer.resume(tp)
                # What storage holds has landed: commit it, or a crash between a publish and
                # its commit would leave the group's lag above zero until the next publish.
                part.to_commit = due[tp].next_offset
            else:
                wait = self.partitions[tp].backoff.failed(time.monotonic())
                log.warning("recovery of %s failed (%s); retrying in %.1f s", tp, error, wait)

    def _recover_all(self, due: dict[TopicPartition, PartitionWriter]) -> dict:
        """Recover several writers with one walk of the folders (run in a thread)."""
        root, topic = self.settings.root, self.settings.topic
        scan = functools.cache(lambda: last_offsets(landed_files(self.storage, root, topic)))
        results: dict[TopicPartition, Exception | None] = {}
        for tp, writer in due.items():
            try:
                writer.recover(scan)
                results[tp] = None
            except StorageError as exc:
                results[tp] = exc
        return results

    # -- publishing --------------------------------------------------------------------------

    async def _publish_due(self, force: str | None, wait: bool = False) -> None:
        """Finish the prepared rotations (and retry failed finishes) when no preparation runs;
        then, unless a finish is waiting for them to end, freeze the rotations that are due
        (all, with `force`) and prepare them in the background, with failed preparations.
        With `wait`, wait for the preparations and finish them too."""
        await self._finish_ready(wait)
        if self._finish_waiting():
            return  # the preparations in flight end first, then these finish
        now = time.monotonic()
        for tp, part in self.partitions.items():
            writer = part.writer
            if part.preparing is not None:
                continue
            if writer.state is State.WRITING:
                reason = force or writer.rotation_due(now)
                if reason is None or writer.expected == writer.next_offset:
                    continue  # not due, or nothing read since the last publish
                if writer.freeze(reason) is None:  # only refused records: covered, no file
                    part.to_commit = writer.next_offset
                    continue
            elif writer.state is not State.FROZEN or not part.backoff.due(now):
                continue
            part.preparing = asyncio.create_task(self._prepare(tp, part))
        if wait:
            await self._finish_ready(wait)

    async def _finish_ready(self, wait: bool) -> None:
        if wait:
            await self._wait_preparing(set(self.partitions))
        for part in self.partitions.values():
            if part.preparing is not None and part.preparing.done():
                task, part.preparing = part.preparing, None
                task.result()  # a bug in preparing stops the loop, as one in publishing does
        if any(part.preparing is not None for part in self.partitions.values()):
            return
        ready = [(tp, part) for tp, part in self.partitions.items() if self._finish_due(part)]
        if ready:
            started = time.monotonic()
            await asyncio.gather(*(self._publish(tp, part) for tp, part in ready))
            self.progress.publish_seconds += time.monotonic() - started

    def _finish_waiting(self) -> bool:
        return any(self._finish_due(part) for part in self.partitions.values())

    @staticmethod
    def _finish_due(part: Assigned) -> bool:
        return part.writer.state in _FINISHING and part.backoff.due(time.monotonic())

    async def _prepare(self, tp: TopicPartition, part: Assigned) -> None:
        started = time.monotonic()
        try:
            await asyncio.to_thread(part.writer.prepare)
        except StorageError as exc:
            self.metrics.publish_failures.inc()
            wait = part.backoff.failed(time.monotonic())
            self.consumer.pause(tp)  # buffer no more until storage answers
            log.warning("writing the files of %s failed (%s); retrying in %.1f s", tp, exc, wait)
        finally:
            self.progress.prepare_seconds += time.monotonic() - started

    async def _wait_preparing(self, tps: set[TopicPartition]) -> None:
        tasks = [p.preparing for tp, p in self.partitions.items() if tp in tps and p.preparing]
        await asyncio.gather(*tasks, return_exceptions=True)  # what they raise: _finish_ready

    async def _publish(self, tp: TopicPartition, part: Assigned) -> None:
        writer = part.writer
        try:
            done = await asyncio.to_thread(writer.publish)
        except LostFileError as exc:
            # Our temp file was removed: another lander recovered this partition. Start over.
            log.error("%s: %s; recovering the partition again", tp, exc)
            self._reassign(tp)
            return
        except StorageError as exc:
            self.metrics.publish_failures.inc()
            wait = part.backoff.failed(time.monotonic())
            self.consumer.pause(tp)  # buffer no more until storage answers
            log.warning(
                "publish of %s failed at %s (%s); retrying in %.1f s",
                tp,
                writer.state.value,
                exc,
                wait,
            )
            return
        part.backoff.succeeded()
        self.consumer.resume(tp)
        self._published(tp, done)
        part.to_commit = done.next_offset

    def _published(self, tp: TopicPartition, done: Publish) -> None:
        now = time.monotonic()
        label = str(tp.partition)
        self.metrics.publish_seconds.observe(now - done.frozen_at)
        self.metrics.rotations.labels(done.reason).inc()
        self.metrics.files_published.inc(len(done.files))
        self.metrics.records_landed.labels(label).inc(done.rows)
        self.metrics.bytes_landed.labels(label).inc(sum(done.file_sizes))
        self.progress.last_published_at = now
        self.progress.file_sizes += done.file_sizes
        log.info(
            "published %s: %d rows in %d file(s) up to offset %d (%s, %.2f s)",
            tp,
            done.rows,
            len(done.files),
            done.last_offset,
            done.reason,
            now - done.frozen_at,
        )

    def _commit_soon(self) -> None:
        """Commit in the background, one commit at a time: a Kafka outage must not stall
        publishing, which does not need Kafka."""
        if self._commit_task is not None and not self._commit_task.done():
            return
        if any(part.to_commit is not None for part in self.partitions.values()):
            self._commit_task = asyncio.create_task(self._commit())

    async def _commit(self) -> None:
        """Commit published offsets to Kafka; monitoring only, so a failure is just logged."""
        offsets = {}
        for tp, part in self.partitions.items():
            if part.to_commit is not None:
                offsets[tp], part.to_commit = part.to_commit, None
        if not offsets:
            return
        try:
            await asyncio.wait_for(self.consumer.commit(offsets), COMMIT_TIMEOUT_S)
        except (KafkaError, TimeoutError) as exc:
            log.warning("offset commit failed (%r); the next publish commits again", exc)

    def _update_lag(self) -> None:
        for tp, part in self.partitions.items():
            published_through = part.writer.next_offset  # None until recovered
            highwater = self.consumer.highwater(tp)
            if highwater is not None and published_through is not None:
                lag = max(0, highwater - published_through)
                self.metrics.lag.labels(str(tp.partition)).set(lag)

    # -- rebalance ---------------------------------------------------------------------------

    def _new_writer(self, tp: TopicPartition) -> PartitionWriter:
        return PartitionWriter(
            self.storage,
            self.settings.root,
            tp.topic,
            tp.partition,
            self._limits,
            self._parquet,
            self._fault_hook,
        )

    def _reassign(self, tp: TopicPartition) -> None:
        old = self.partitions.get(tp)
        self.partitions[tp] = Assigned(
            self._new_writer(tp),
            Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s),
            preparing=old.preparing if old else None,  # the loop still awaits it
        )
        self.consumer.pause(tp)  # until recovered and seeked

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned:  # at once, before waiting for the lock: nothing is read before recovery
            self.consumer.pause(*assigned)
        async with self._busy:
            for tp in assigned:
                self._reassign(tp)
        log.info("assigned %s", sorted(tp.partition for tp in assigned))

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._busy:  # waits for a step in progress on these writers
            await self._wait_preparing(revoked)
            for tp in revoked:
                self.partitions.pop(tp, None)
                with contextlib.suppress(KeyError):
                    self.metrics.lag.remove(str(tp.partition))
        log.info("revoked %s; unpublished buffers dropped", sorted(tp.partition for tp in revoked))

    # -- shutdown ----------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Publish everything buffered (retrying until the deadline), then commit."""
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        async with self._busy:
            if self._dlq_unsent:
                log.error("not publishing on shutdown: some DLQ records were not sent")
                return
            force: str | None = "shutdown"  # the first round freezes every buffer
            while True:
                await self._publish_due(force, wait=True)
                force = None
                pending = [p for p in self.partitions.values() if p.writer.pending is not None]
                if not pending:
                    break
                retry_at = min(part.backoff.due_at for part in pending)
                if retry_at >= deadline:
                    log.error("unpublished buffers left at the shutdown deadline (still in Kafka)")
                    break
                await asyncio.sleep(max(0.0, retry_at - time.monotonic()))
        if self._commit_task is not None:
            await self._commit_task
        await self._commit()
        log.info(
            "stopped: %d rows in %d files since the start",
            total(self.metrics.records_landed),
            total(self.metrics.files_published),
        )


class _Listener(ConsumerRebalanceListener):
    def __init__(self, lander: Lander):
        self.lander = lander

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.lander.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.lander.on_assigned(assigned)
