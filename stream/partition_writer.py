"""One partition's records -> published Parquet files, exactly once: a state machine.

    RECOVERING --recover()--> WRITING --freeze()--> FROZEN --publish()--> TEMP_WRITTEN
        --> WAL_WRITTEN --> RENAMED --> WRITING

- `recover()`: apply the write-ahead log, clear our leftover temp files, then the next offset
  is the largest last offset published (file names, and the log's own record) plus one; the
  consumer seeks there.
- `add()`: decode a poll's records into one Arrow batch and buffer it; offsets below the
  next expected one are redeliveries and are skipped.
- `freeze()` closes the buffers into the files of one publish (one per dt=/hr= bucket);
  records that arrive while it is being published go into fresh buffers.
- `publish()` runs the steps from where the state says. A `StorageError` leaves the state
  as it was after the last completed step, so calling `publish()` again resumes there.

Every method is blocking (Arrow, Parquet, HDFS): the consumer runs them off the event loop,
one at a time per writer, except `prepare()` (the publish's first step: its temp files),
which may run while `add()` fills the fresh buffers: they share no state.

`fault_hook` is called with the name of each point of `FAULT_POINTS` as the writer reaches
it: the seam where fault tests crash the process (tests/stream/doubles.py `crash_at`).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from schemas import arrow_schema, layout
from schemas.layout import Bucket, FileName
from stream.buffer import ParquetOptions, PartitionBuffer, encode_parquet
from stream.decode import Reason, decode_batch
from stream.storage import Storage
from stream.wal import Rename, WriteAheadLog, finish_rename

log = logging.getLogger(__name__)

# In the order a publish reaches them.
FAULT_POINTS = (
    "added",  # rows were buffered (a crash loses only buffers)
    "temp_written",  # every temp file of a rotation is written, nothing logged
    "wal_written",  # the renames are logged, none done
    "between_renames",  # after one rename of a rotation that publishes several files
    "renamed",  # every file renamed, the log not yet truncated
)
FaultHook = Callable[[str], None]


def no_fault(point: str) -> None:
    pass


class State(enum.Enum):
    RECOVERING = "recovering"  # assigned; the log not applied, the next offset unknown
    WRITING = "writing"  # buffering; no publish in progress
    FROZEN = "frozen"  # a publish is prepared; its temp files are (being) written
    TEMP_WRITTEN = "temp_written"  # every temp file is written; nothing logged yet
    WAL_WRITTEN = "wal_written"  # the renames are logged: from here the publish will happen
    RENAMED = "renamed"  # every file has its final name; the log is not yet truncated


class Record(Protocol):
    """What the writer needs of a Kafka record (aiokafka's ConsumerRecord has it)."""

    offset: int
    value: bytes | None
    key: bytes | None


@dataclass(frozen=True)
class Limits:
    rows: int = 1_000_000
    bytes: int = 128 * 1024 * 1024
    age_s: float = 45.0


DEFAULT_LIMITS = Limits()
DEFAULT_PARQUET = ParquetOptions()


@dataclass
class Rejected:
    """A record that cannot land, bound for the DLQ."""

    offset: int
    key: bytes | None
    value: bytes | None
    reason: Reason
    detail: str


@dataclass
class PendingFile:
    bucket: Bucket
    name: FileName
    temp: str
    final: str
    table: pa.Table
    written: bool = False
    renamed: bool = False

    @property
    def rename(self) -> Rename:
        return Rename(self.temp, self.final)


@dataclass
class Publish:
    files: list[PendingFile]
    last_offset: int  # largest offset in the files: what recovery will read from the names
    next_offset: int  # first offset not covered (records refused at the end are covered too)
    reason: str
    rows: int
    bytes: int
    frozen_at: float = field(default_factory=time.monotonic)
    file_sizes: list[int] = field(default_factory=list)


class PartitionWriter:
    def __init__(
        self,
        storage: Storage,
        root: str,
        topic: str,
        partition: int,
        limits: Limits = DEFAULT_LIMITS,
        parquet: ParquetOptions = DEFAULT_PARQUET,
        fault_hook: FaultHook = no_fault,
    ):
        self.storage = storage
        self.root = root
        self.topic = topic
        self.partition = partition
        self.limits = limits
        self.parquet = parquet
        self.fault_hook = fault_hook
        self.schema = arrow_schema()
        self.wal = WriteAheadLog(storage, layout.wal_path(root, topic, partition))
        self.state = State.RECOVERING
        self.next_offset: int | None = None  # first offset not published, once recovered
        self.expected: int | None = None  # first offset not yet buffered (or refused)
        self.buffer = PartitionBuffer(self.schema)
        self.pending: Publish | None = None
        self.skipped = 0  # redelivered records ignored
        self.decoded = {"native": 0, "reference": 0}  # records decoded, by path (decode.py)

    # -- recovery ----------------------------------------------------------------------------

    def recover(self, scan: Callable[[], Mapping[int, int]]) -> int:
        """Apply the log, clear leftovers, find the next offset. Idempotent; returns it."""
        wal_last = self.wal.apply()
        # Temp files not in an applied log were never published: whatever wrote them is gone.
        self.storage.delete(layout.tmp_dir(self.root, self.topic, self.partition), True)
        names_last = scan().get(self.partition, -1)
        last = max(names_last, -1 if wal_last is None else wal_last)
        self.next_offset = self.expected = last + 1
        self.state = State.WRITING
        log.info(
            "%s+%d recovered: next offset %d (file names %d, log %s)",
            self.topic,
            self.partition,
            self.next_offset,
            names_last,
            wal_last,
        )
        return self.next_offset

    # -- buffering ---------------------------------------------------------------------------

    def add(self, records: Sequence[Record]) -> list[Rejected]:
        """Buffer the records after the expected offset; returns those that cannot land."""
        if self.expected is None:  # not recovered: the consumer seeks once it is
            return []
        if not records:
            return []
        first, last = records[0].offset, records[-1].offset
        if first == self.expected and last - first + 1 == len(records):
            taken = records  # the usual poll: the next offsets, none missing, none twice
            self.expected = last + 1
        else:
            taken = self._new_records(records)
        if not taken:
            return []
        values = [record.value for record in taken]
        decoded = decode_batch(values)
        self.decoded["native"] += decoded.native
        self.decoded["reference"] += len(values) - decoded.native
        rejected = [
            Rejected(taken[i].offset, taken[i].key, taken[i].value, reason, detail)
            for i, reason, detail in decoded.rejected
        ]
        if decoded.rows:
            offsets: Sequence[int]
            if len(decoded.rows) == len(taken):  # every record is a row
                offsets = [record.offset for record in taken]
                size = sum(map(len, values))  # type: ignore[arg-type]
            else:
                offsets = [taken[i].offset for i in decoded.rows]
                size = sum(len(values[i]) for i in decoded.rows)  # type: ignore[arg-type]
            self.buffer.add(decoded.batch, offsets, size)
            self.fault_hook("added")
        return rejected

    def _new_records(self, records: Sequence[Record]) -> list[Record]:
        """The records not buffered yet (redeliveries are skipped), in order."""
        taken = []
        for record in records:
            if record.offset < self.expected:  # type: ignore[operator]
                self.skipped += 1
                continue
            if record.offset > self.expected:  # type: ignore[operator]
                log.warning(  # compacted, or expired before it landed
                    "%s+%d: offsets %d to %d are not in Kafka",
                    self.topic,
                    self.partition,
                    self.expected,
                    record.offset - 1,
                )
            self.expected = record.offset + 1
            taken.append(record)
        return taken

    def rotation_due(self, now: float) -> str | None:
        """Why the buffers should be published now ("rows", "bytes", "age"), or None."""
        if self.state is not State.WRITING or self.buffer.rows == 0:
            return None
        if self.buffer.rows >= self.limits.rows:
            return "rows"
        if self.buffer.bytes >= self.limits.bytes:
            return "bytes"
        if self.buffer.age(now) >= self.limits.age_s:
            return "age"
        return None

    # -- publishing --------------------------------------------------------------------------

    def freeze(self, reason: str) -> Publish | None:
        """Close the buffers into the files of one publish; None when there is no row."""
        if self.state is not State.WRITING:
            raise RuntimeError(f"freeze in state {self.state}")
        buffer, self.buffer = self.buffer, PartitionBuffer(self.schema)
        if buffer.rows == 0:
            # Only refused records: nothing to write, the offsets are covered all the same.
            if self.expected is not None:
                self.next_offset = max(self.next_offset or 0, self.expected)
            return None
        files = []
        for bucket, rows in sorted(buffer.buckets.items()):
            name = FileName(self.topic, self.partition, rows.first, rows.last)
            files.append(
                PendingFile(
                    bucket,
                    name,
                    temp=layout.tmp_path(self.root, self.topic, self.partition),
                    final=layout.final_path(self.root, bucket, name),
                    table=rows.table(self.schema),
                )
            )
        self.pending = Publish(
            files,
            last_offset=max(f.name.last for f in files),
            next_offset=self.expected if self.expected is not None else 0,
            reason=reason,
            rows=buffer.rows,
            bytes=buffer.bytes,
        )
        self.state = State.FROZEN
        return self.pending

    def prepare(self) -> None:
        """The first step of the pending publish alone: encode and write its temp files. Nobody
        reads those (a crash leaves them to the next recovery), so it may run while `add()`
        fills the fresh buffers; `publish()` goes on from there."""
        pending = self.pending
        if pending is None:
            raise RuntimeError("nothing to prepare")
        if self.state is State.FROZEN:
            self._write_temp_files(pending)
            self.state = State.TEMP_WRITTEN
            self.fault_hook("temp_written")

    def publish(self) -> Publish:
        """Run the pending publish from its current step to the end; returns it when done."""
        pending = self.pending
        if pending is None:
            raise RuntimeError("nothing to publish")
        self.prepare()
        if self.state is State.TEMP_WRITTEN:
            self.wal.log_publish(pending.last_offset, [f.rename for f in pending.files])
            self.state = State.WAL_WRITTEN
            self.fault_hook("wal_written")
        if self.state is State.WAL_WRITTEN:
            self._rename_files(pending)
            self.state = State.RENAMED
            self.fault_hook("renamed")
        if self.state is State.RENAMED:
            self.wal.truncate(pending.last_offset)
            self.next_offset = max(self.next_offset or 0, pending.next_offset)
            self.pending = None
            self.state = State.WRITING
        return pending

    def _write_temp_files(self, pending: Publish) -> None:
        for file in pending.files:
            if file.written:
                continue
            data = encode_parquet(file.table, self.parquet)
            self.storage.write(file.temp, data)
            file.written = True
            pending.file_sizes.append(len(data))

    def _rename_files(self, pending: Publish) -> None:
        for i, file in enumerate(pending.files):
            if file.renamed:
                continue
            finish_rename(self.storage, file.rename)
            file.renamed = True
            if i < len(pending.files) - 1:
                self.fault_hook("between_renames")
