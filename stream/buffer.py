"""The rows of one partition not yet published, per dt=/hr= bucket, as Arrow batches.

Rows are converted to Arrow as they come (one batch per bucket per poll), so a buffer of a
million rows costs Arrow's compact memory, not a million Python dicts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stream.filenames import Bucket

Row = dict[str, Any]


@dataclass
class BucketRows:
    batches: list[pa.RecordBatch] = field(default_factory=list)
    first: int = -1  # offsets grow within a partition: the first added is the smallest
    last: int = -1
    rows: int = 0

    def table(self, schema: pa.Schema) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=schema)


@dataclass
class Entry:
    offset: int
    row: Row
    value: bytes  # the record value: its size counts toward the rotation limit
    key: bytes | None = None  # kept for a DLQ record, should Arrow refuse the row


class PartitionBuffer:
    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.buckets: dict[Bucket, BucketRows] = {}
        self.rows = 0
        self.bytes = 0
        self.started_at: float | None = None  # monotonic time of the oldest buffered row

    def add(self, entries: list[Entry]) -> list[tuple[Entry, str]]:
        """Buffer rows (in offset order); returns those Arrow refused, with why."""
        if not entries:
            return []
        if self.started_at is None:
            self.started_at = time.monotonic()
        refused: list[tuple[Entry, str]] = []
        for bucket, group in _by_bucket(entries).items():
            batch, kept, bad = self._convert(group)
            refused += bad
            if not kept:
                continue
            rows = self.buckets.setdefault(bucket, BucketRows())
            rows.batches.append(batch)
            if rows.first < 0:
                rows.first = kept[0].offset
            rows.last = kept[-1].offset
            rows.rows += len(kept)
            self.rows += len(kept)
            self.bytes += sum(len(e.value) for e in kept)
        return refused

    def age(self, now: float) -> float:
        return 0.0 if self.started_at is None else now - self.started_at

    def _convert(self, group: list[Entry]) -> tuple[pa.RecordBatch, list[Entry], list]:
        try:
            return pa.RecordBatch.from_pylist([e.row for e in group], self.schema), group, []
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
        # Rare: find the rows Arrow refuses, one by one, and keep the others.
        kept, bad = [], []
        for entry in group:
            try:
                pa.RecordBatch.from_pylist([entry.row], self.schema)
                kept.append(entry)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                bad.append((entry, f"{type(exc).__name__}: {exc}"))
        return pa.RecordBatch.from_pylist([e.row for e in kept], self.schema), kept, bad


def _by_bucket(entries: list[Entry]) -> dict[Bucket, list[Entry]]:
    # Keyed by a tuple first: strftime per row would cost more than the grouping.
    groups: dict[tuple[int, int, int, int], list[Entry]] = {}
    for entry in entries:
        t: datetime = entry.row["event_time"]
        groups.setdefault((t.year, t.month, t.day, t.hour), []).append(entry)
    return {Bucket(f"{y:04d}-{m:02d}-{d:02d}", f"{h:02d}"): g for (y, m, d, h), g in groups.items()}


@dataclass(frozen=True)
class ParquetOptions:
    compression: str = "zstd"
    compression_level: int | None = 3
    row_group_rows: int = 128 * 1024


def encode_parquet(table: pa.Table, options: ParquetOptions) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression=options.compression,
        compression_level=options.compression_level,
        row_group_size=options.row_group_rows,
    )
    return sink.getvalue().to_pybytes()
