"""A poll's record values -> one Arrow batch of rows (and the reasons for the others), split by
hour in the buffer; a publish prepared (temp files) apart from its finish."""

from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from schemas import arrow_schema, layout
from schemas.record import split_extra
from stream.buffer import PartitionBuffer
from stream.decode import CHUNK, Reason, decode_batch
from stream.landed import landed_files
from stream.native import from_values
from stream.partition_writer import PartitionWriter, State
from stream.rows import to_table
from tests.stream import samples
from tests.stream.doubles import MemoryStorage


@dataclass
class Rec:
    offset: int
    value: bytes
    key: bytes | None = None


def _values(n: int) -> list[bytes | None]:
    return [orjson.dumps(samples.event(i)) for i in range(n)]


def test_rows_are_the_reference_rows_across_chunks():
    values = _values(2 * CHUNK + 37)
    decoded = decode_batch(values)
    assert decoded.rejected == [] and decoded.rows == list(range(len(values)))
    expected = to_table([orjson.loads(v) for v in values])
    assert pa.Table.from_batches([decoded.batch], arrow_schema()).equals(expected)


def test_records_as_the_collector_writes_them_give_the_rows_of_their_events():
    """The native path (a whole poll read by Arrow) and, when one value sends the poll back,
    the reference path with `extra` joined back: the same rows as the events themselves."""
    events = [samples.event(i) for i in range(CHUNK + 10)]
    for i, event in enumerate(events):
        event["ts"] = 1794326400000 + i  # unknown keys: kept in `extra`
        event.setdefault("properties", {})["coupon"] = "D11-50"
    values: list[bytes | None] = [_record_value(e) for e in events]
    expected = to_table(events)
    assert from_values(values) is not None  # the native path takes this poll
    decoded = decode_batch(values)
    assert decoded.native == len(values)
    assert decoded.rejected == [] and decoded.rows == list(range(len(values)))
    assert pa.Table.from_batches([decoded.batch], arrow_schema()).equals(expected)

    values[7] = None  # a tombstone: its chunk is mapped event by event, the next read natively
    decoded = decode_batch(values)
    assert decoded.native == len(values) - CHUNK
    assert [(i, reason) for i, reason, _ in decoded.rejected] == [(7, Reason.EMPTY)]
    kept = expected.take([i for i in range(len(values)) if i != 7])
    assert pa.Table.from_batches([decoded.batch], arrow_schema()).equals(kept)


def _record_value(event: dict) -> bytes:
    return orjson.dumps(split_extra(event))


def test_refused_values_anywhere_in_a_poll_keep_the_others_in_order():
    values = _values(3 * CHUNK)
    no_device = samples.event(0)
    del no_device["device_id"]
    bad = {
        0: b"not json",
        CHUNK - 1: None,
        CHUNK: b"[1]",
        CHUNK + 1: orjson.dumps(no_device),
        2 * CHUNK + 5: orjson.dumps({**samples.event(1), "event_time": "yesterday"}),
        3 * CHUNK - 1: b"",
    }
    for i, value in bad.items():
        values[i] = value
    decoded = decode_batch(values)
    assert [(i, reason) for i, reason, _ in decoded.rejected] == [
        (0, Reason.NOT_JSON),
        (CHUNK - 1, Reason.EMPTY),
        (CHUNK, Reason.NOT_AN_OBJECT),
        (CHUNK + 1, Reason.MISSING_FIELD),
        (2 * CHUNK + 5, Reason.MISSING_FIELD),
        (3 * CHUNK - 1, Reason.EMPTY),
    ]
    assert decoded.rejected[3][2] == "missing or invalid: device_id"
    assert decoded.rejected[4][2] == "missing or invalid: event_time"
    kept = [i for i in range(len(values)) if i not in bad]
    assert decoded.rows == kept
    ids = [orjson.loads(values[i])["event_id"] for i in kept]
    assert decoded.batch.column("event_id").to_pylist() == ids


def test_only_refused_values_make_an_empty_batch():
    decoded = decode_batch([b"x", None])
    assert decoded.batch.num_rows == 0 and decoded.batch.schema == arrow_schema()
    assert decoded.rows == []


def test_the_buffer_splits_a_batch_by_hour_with_each_hours_offsets():
    values = _values(300)  # three hours, interleaved
    decoded = decode_batch(values)
    buffer = PartitionBuffer(arrow_schema())
    offsets = [1000 + i for i in decoded.rows]
    buffer.add(decoded.batch, offsets, size=123)
    assert (buffer.rows, buffer.bytes) == (300, 123)
    assert sorted((b.dt, b.hr) for b in buffer.buckets) == [
        ("2026-11-10", "15"),
        ("2026-11-10", "16"),
        ("2026-11-10", "17"),
    ]
    for bucket, rows in buffer.buckets.items():
        table = rows.table(arrow_schema())
        hours = pc.hour(table.column("event_time")).to_pylist()
        assert set(hours) == {int(bucket.hr)}
        mine = [1000 + i for i in range(300) if samples.bucket_of(samples.event(i))[1] == bucket.hr]
        assert (rows.first, rows.last, rows.rows) == (mine[0], mine[-1], len(mine))


def test_prepare_writes_only_temp_files_and_publish_goes_on_from_there():
    storage = MemoryStorage()
    writer = PartitionWriter(storage, "/surge/events", "t", 0)
    writer.recover(lambda: {})
    writer.add([Rec(i, v) for i, v in enumerate(_values(120))])
    writer.freeze("rows")
    writer.prepare()
    assert writer.state is State.TEMP_WRITTEN
    assert len(storage.list(layout.tmp_dir("/surge/events", "t", 0))) == 3  # three hours
    assert landed_files(storage, "/surge/events", "t") == []  # nothing visible yet
    writer.add([Rec(i, v) for i, v in enumerate(_values(10), start=120)])  # meanwhile
    writer.publish()
    assert writer.state is State.WRITING and writer.next_offset == 120
    assert len(landed_files(storage, "/surge/events", "t")) == 3
    assert writer.buffer.rows == 10


def test_the_writer_counts_the_records_each_path_decoded():
    writer = PartitionWriter(MemoryStorage(), "/surge/events", "t", 0)
    writer.recover(lambda: {})
    split = [_record_value(samples.event(i)) for i in range(30)]
    writer.add([Rec(i, v) for i, v in enumerate(split)])
    writer.add([Rec(i, v) for i, v in enumerate(_values(20), start=30)])  # the old shape
    assert writer.decoded == {"native": 30, "reference": 20}


def test_an_old_record_with_a_client_extra_cannot_overwrite_its_columns():
    event = samples.event(0)
    event["extra"] = '{"event_time":"2001-01-01T00:00:00Z","device_id":"someone_else"}'
    decoded = decode_batch([orjson.dumps(event)])
    assert decoded.batch.column("device_id").to_pylist() == [event["device_id"]]
    assert decoded.batch.column("event_time")[0].as_py().year == 2026
    assert orjson.loads(decoded.batch.column("extra")[0].as_py())["extra"] == event["extra"]
