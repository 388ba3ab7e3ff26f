"""The rows of one partition not yet published, per dt=/hr= bucket, as Arrow batches.

Rows come as Arrow batches (one per poll, stream/decode.py) and are split by the hour of
their `event_time` with Arrow compute, so a buffer of a million rows costs Arrow's compact
memory, not a million Python dicts, and no Python code runs per row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas.layout import Bucket


@dataclass
class BucketRows:
    batches: list[pa.RecordBatch] = field(default_factory=list)
    first: int = -1  # offsets grow within a partition: the first added is the smallest
    last: int = -1
    rows: int = 0

    def table(self, schema: pa.Schema) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=schema)


class PartitionBuffer:
    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.buckets: dict[Bucket, BucketRows] = {}
        self.rows = 0
        self.bytes = 0
        self.started_at: float | None = None  # monotonic time of the oldest buffered row

    def add(self, batch: pa.RecordBatch, offsets: Sequence[int], size: int) -> None:
        """Buffer rows (in offset order): `offsets[i]` is the offset of row i, `size` the
        bytes of their record values (which count toward the rotation limit)."""
        if batch.num_rows == 0:
            return
        if self.started_at is None:
            self.started_at = time.monotonic()
        for bucket, part, first, last in _by_hour(batch, offsets):
            rows = self.buckets.setdefault(bucket, BucketRows())
            rows.batches.append(part)
            if rows.first < 0:
                rows.first = first
            rows.last = last
            rows.rows += part.num_rows
        self.rows += batch.num_rows
        self.bytes += size

    def age(self, now: float) -> float:
        return 0.0 if self.started_at is None else now - self.started_at


def _by_hour(
    batch: pa.RecordBatch, offsets: Sequence[int]
) -> list[tuple[Bucket, pa.RecordBatch, int, int]]:
    """(bucket, its rows, first offset, last offset) per UTC hour of `event_time`."""
    # Naive (still UTC) times: flooring them skips the time zone database.
    utc = batch.column("event_time").cast(pa.timestamp("us"))
    hours = pc.floor_temporal(utc, unit="hour")
    unique = pc.unique(hours)
    if len(unique) == 1:  # the common case: a poll within one hour
        return [(_bucket(unique[0]), batch, offsets[0], offsets[-1])]
    offset_array = pa.array(offsets, pa.int64())
    parts = []
    for hour in unique:
        mask = pc.equal(hours, hour)
        bucket_offsets = offset_array.filter(mask)
        first, last = bucket_offsets[0].as_py(), bucket_offsets[-1].as_py()
        parts.append((_bucket(hour), batch.filter(mask), first, last))
    return parts


def _bucket(hour: pa.TimestampScalar) -> Bucket:
    return Bucket.of(hour.as_py())  # a naive datetime, in UTC


@dataclass(frozen=True)
class ParquetOptions:
    compression: str = "zstd"
    compression_level: int | None = 3
    row_group_rows: int = 128 * 1024
    # Columns with a value per event: a dictionary only costs there (it fills up, then falls
    # back to plain), so a file of realistic events is smaller and faster to encode without.
    plain_columns: tuple[str, ...] = ("event_id", "event_time", "extra")


def encode_parquet(table: pa.Table, options: ParquetOptions) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression=options.compression,
        compression_level=options.compression_level,
        row_group_size=options.row_group_rows,
        use_dictionary=[
            path
            for field in table.schema
            if field.name not in options.plain_columns
            for path in _leaf_paths(field)
        ],
    )
    return sink.getvalue().to_pybytes()


def _leaf_paths(field: pa.Field, prefix: str = "") -> list[str]:
    """The Parquet column paths of a field: "items.list.element.sku" for a list of structs."""
    path = f"{prefix}{field.name}"
    if pa.types.is_list(field.type):
        return _leaf_paths(pa.field("element", field.type.value_type), f"{path}.list.")
    if pa.types.is_struct(field.type):
        return [leaf for child in field.type for leaf in _leaf_paths(child, f"{path}.")]
    return [path]
