"""The partition writer against the in-memory storage, with failures and crashes injected."""

import contextlib
import io
from dataclasses import dataclass

import orjson
import pyarrow.parquet as pq
import pytest

from schemas import layout
from stream.decode import Reason
from stream.landed import landed_files, last_offsets
from stream.partition_writer import DEFAULT_LIMITS, Limits, PartitionWriter, State
from stream.storage import StorageError
from stream.wal import LostFileError, WalRecord
from tests.stream import samples
from tests.stream.doubles import MemoryStorage

ROOT, TOPIC, PARTITION = "/surge/events", "surge.events", 2


@dataclass
class Rec:
    offset: int
    value: bytes | None
    key: bytes | None = b"d_1"


class Crash(BaseException):
    """The process dies here (BaseException: no `except Exception` of the writer catches it)."""


def _records(n: int, start: int = 0, hours: int = 3) -> tuple[list[Rec], dict[str, dict]]:
    records, events = [], {}
    for offset in range(start, start + n):
        event = samples.event(offset, hours)
        records.append(Rec(offset, orjson.dumps(event)))
        events[event["event_id"]] = {"offset": offset, "bucket": samples.bucket_of(event)}
    return records, events


def _writer(storage, limits=DEFAULT_LIMITS, fault_hook=lambda point: None) -> PartitionWriter:
    return PartitionWriter(storage, ROOT, TOPIC, PARTITION, limits, fault_hook=fault_hook)


def _recover(writer: PartitionWriter) -> int:
    return writer.recover(lambda: last_offsets(landed_files(writer.storage, ROOT, TOPIC)))


def _landed(storage: MemoryStorage) -> list[dict]:
    """Every landed row: event_id, its file's offsets and folder."""
    rows = []
    for file in landed_files(storage, ROOT, TOPIC):
        table = pq.read_table(io.BytesIO(storage.read(file.path)))
        for event_id in table.column("event_id").to_pylist():
            rows.append({"event_id": event_id, "name": file.name, "bucket": file.bucket})
    return rows


def _assert_exactly_once(storage: MemoryStorage, events: dict[str, dict]) -> None:
    rows = _landed(storage)
    ids = [r["event_id"] for r in rows]
    assert len(ids) == len(set(ids)), "an event landed twice"
    assert set(ids) == set(events), "an event is missing"
    for row in rows:
        expected = events[row["event_id"]]
        assert (row["bucket"].dt, row["bucket"].hr) == expected["bucket"]
        assert row["name"].first <= expected["offset"] <= row["name"].last
        assert row["name"].partition == PARTITION
    assert not storage.list(layout.tmp_dir(ROOT, TOPIC, PARTITION)), "temp files left"


def _land(writer: PartitionWriter, records: list[Rec], batch: int = 50) -> None:
    for i in range(0, len(records), batch):
        writer.add(records[i : i + batch])
        if writer.rotation_due(0.0):
            writer.freeze("rows")
            writer.publish()
    if writer.buffer.rows:
        writer.freeze("age")
        writer.publish()


def test_a_rotation_publishes_one_file_per_hour_and_the_offset_advances():
    storage = MemoryStorage()
    writer = _writer(storage)
    assert _recover(writer) == 0
    records, events = _records(120, hours=3)
    writer.add(records)
    done = writer.freeze("rows")
    assert [f.bucket.hr for f in done.files] == ["15", "16", "17"]
    writer.publish()

    assert writer.state is State.WRITING and writer.next_offset == 120
    _assert_exactly_once(storage, events)
    assert max(f.name.last for f in landed_files(storage, ROOT, TOPIC)) == 119
    assert WalRecord.decode(storage.read(writer.wal.path)) == WalRecord(119)
    assert _recover(_writer(storage)) == 120


def test_landed_rows_hold_the_mapped_columns():
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    records, _ = _records(9, hours=1)
    _land(writer, records)
    [file] = landed_files(storage, ROOT, TOPIC)
    table = pq.read_table(io.BytesIO(storage.read(file.path)))
    assert table.num_rows == 9
    assert set(table.column("type").to_pylist()) >= {"order_placed", "page_view"}
    assert (
        pq.ParquetFile(io.BytesIO(storage.read(file.path)))
        .metadata.row_group(0)
        .column(0)
        .compression
        == "ZSTD"
    )


def test_redelivered_records_are_skipped():
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    records, events = _records(100)
    writer.add(records[:60])
    writer.add(records[40:])  # Kafka redelivers 40..59
    assert writer.skipped == 20
    writer.freeze("rows")
    writer.publish()
    writer.add(records[90:])  # and after the publish
    assert writer.skipped == 30 and writer.buffer.rows == 0
    _assert_exactly_once(storage, events)


def test_records_before_recovery_are_ignored():
    writer = _writer(MemoryStorage())
    assert writer.add(_records(5)[0]) == [] and writer.buffer.rows == 0


def test_rotation_reasons():
    storage = MemoryStorage()
    writer = _writer(storage, Limits(rows=10, bytes=10**9, age_s=60))
    _recover(writer)
    records, _ = _records(30)
    writer.add(records[:9])
    assert writer.rotation_due(0.0) is None
    writer.add(records[9:10])
    assert writer.rotation_due(0.0) == "rows"

    writer = _writer(storage, Limits(rows=10**6, bytes=2000, age_s=60))
    _recover(writer)
    writer.add(records[:1])
    assert writer.rotation_due(0.0) is None
    writer.add(records[1:5])
    assert writer.rotation_due(0.0) == "bytes"

    writer = _writer(storage, Limits(rows=10**6, bytes=10**9, age_s=5))
    _recover(writer)
    assert writer.rotation_due(10**9) is None  # nothing buffered: nothing to publish
    writer.add(records[:1])
    started = writer.buffer.started_at
    assert writer.rotation_due(started + 4.9) is None
    assert writer.rotation_due(started + 5) == "age"


def test_undecodable_records_are_rejected_with_a_reason_and_the_rest_lands():
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    records, events = _records(15)
    no_time = samples.event(99)
    del no_time["event_time"]
    bad = [b"not json", b"[1, 2]", None, orjson.dumps(no_time)]
    bad.append(orjson.dumps({**samples.event(98), "event_time": "yesterday"}))
    for offset, value in enumerate(bad, start=5):
        events = {k: v for k, v in events.items() if v["offset"] != offset}
        records[offset] = Rec(offset, value)
    rejected = writer.add(records)
    assert [(r.offset, r.reason) for r in rejected] == [
        (5, Reason.NOT_JSON),
        (6, Reason.NOT_AN_OBJECT),
        (7, Reason.EMPTY),
        (8, Reason.MISSING_FIELD),
        (9, Reason.MISSING_FIELD),
    ]
    assert "event_time" in rejected[-1].detail
    writer.freeze("age")
    done = writer.publish()
    assert done.next_offset == 15
    _assert_exactly_once(storage, events)


def test_only_refused_records_cover_their_offsets_without_a_file():
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    writer.add([Rec(0, b"x"), Rec(1, b"y")])
    assert writer.freeze("age") is None
    assert writer.next_offset == 2 and writer.state is State.WRITING
    assert landed_files(storage, ROOT, TOPIC) == []


# -- failures: the state is kept and a retry resumes at the failed step ------------------------


def _fail_nth(storage: MemoryStorage, op: str, match: str, nth: int) -> None:
    seen = []

    def hook(called: str, path: str) -> None:
        if called == op and match in path:
            seen.append(path)
            if len(seen) == nth:
                raise StorageError(f"injected: {op} {path}")

    storage.on_call = hook


@pytest.mark.parametrize(
    ("fault", "failed_in"),
    [
        (("write", "/_tmp/", 1), State.FROZEN),  # the first temp file
        (("write", "/_tmp/", 3), State.FROZEN),  # the last one
        (("write", "/_wal/", 1), State.TEMP_WRITTEN),  # logging the renames
        (("mkdirs", "/dt=", 2), State.WAL_WRITTEN),
        (("rename", "hr=16", 1), State.WAL_WRITTEN),  # the second rename
        (("write", "/_wal/", 2), State.RENAMED),  # truncating the log
    ],
)
def test_a_failed_step_is_retried_until_the_publish_completes(fault, failed_in):
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    records, events = _records(90, hours=3)
    writer.add(records)
    writer.freeze("rows")
    _fail_nth(storage, *fault)

    with pytest.raises(StorageError):
        writer.publish()
    assert writer.state is failed_in
    writer.publish()

    assert writer.state is State.WRITING and writer.next_offset == 90
    _assert_exactly_once(storage, events)


@pytest.mark.parametrize("op", ["write", "rename"])
def test_an_operation_done_but_unanswered_is_not_done_twice(op):
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    records, events = _records(90, hours=3)
    writer.add(records)
    writer.freeze("rows")
    storage.fail(op, match="_tmp", after=True)
    try:
        writer.publish()
    except StorageError:  # a lost write answer is retried; a lost rename answer is checked
        writer.publish()
    _assert_exactly_once(storage, events)


def test_a_failed_rename_whose_check_fails_too_is_retried():
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    records, events = _records(90, hours=3)
    writer.add(records)
    writer.freeze("rows")
    storage.fail("rename", match="hr=16")
    storage.fail("exists")
    with pytest.raises(StorageError):
        writer.publish()
    writer.publish()
    _assert_exactly_once(storage, events)


def test_records_read_while_a_publish_fails_wait_for_the_next_one():
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    records, events = _records(100)
    writer.add(records[:50])
    writer.freeze("rows")
    storage.fail("write", times=3)
    for _ in range(3):
        with pytest.raises(StorageError):
            writer.publish()
    writer.add(records[50:])  # fetched before the partition was paused
    assert writer.rotation_due(10**9) is None  # one publish at a time
    writer.publish()
    assert writer.rotation_due(10**9) == "age"
    writer.freeze("age")
    writer.publish()
    _assert_exactly_once(storage, events)


def test_a_temp_file_removed_by_another_owner_is_reported():
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    writer.add(_records(10)[0])
    writer.freeze("rows")
    storage.fail("write", match="/_wal/")
    with pytest.raises(StorageError):
        writer.publish()
    _recover(_writer(storage))  # a new owner clears the leftovers of this partition
    with pytest.raises(LostFileError):
        writer.publish()
    # The stale log it wrote cannot make the next recovery skip anything.
    assert _recover(_writer(storage)) == 0


# -- crashes: a new writer on the same storage recovers, and every record lands once ----------


def _count_calls() -> int:
    storage = MemoryStorage()
    writer = _writer(storage)
    _recover(writer)
    writer.add(_records(300, hours=3)[0][:150])
    before = len(storage.calls)
    writer.freeze("rows")
    writer.publish()
    return len(storage.calls) - before


PUBLISH_CALLS = _count_calls()


@pytest.mark.parametrize("crash_before_call", range(PUBLISH_CALLS + 1))
def test_a_crash_at_any_storage_call_loses_and_duplicates_nothing(crash_before_call):
    """Kill the writer before its n-th storage call of the second publish, then restart."""
    storage = MemoryStorage()
    records, events = _records(300, hours=3)
    writer = _writer(storage)
    _recover(writer)
    writer.add(records[:100])
    writer.freeze("rows")
    writer.publish()  # a first publish, so recovery has names to read
    writer.add(records[100:250])
    writer.freeze("rows")
    calls = []

    def crash(op, path):
        calls.append(op)
        if len(calls) > crash_before_call:
            raise Crash

    storage.on_call = crash
    with contextlib.suppress(Crash):
        writer.publish()
    storage.on_call = None

    restarted = _writer(storage)
    next_offset = _recover(restarted)
    assert next_offset in (100, 250), "a publish is all or nothing"
    _land(restarted, records[next_offset:])
    _assert_exactly_once(storage, events)


@pytest.mark.parametrize("point", ["added", "temp_written", "wal_written", "between_renames"])
def test_a_crash_at_each_named_point_loses_and_duplicates_nothing(point):
    storage = MemoryStorage()
    records, events = _records(200, hours=3)

    def checkpoint(reached):
        if reached == point:
            raise Crash

    writer = _writer(storage, Limits(rows=80), checkpoint)
    _recover(writer)
    with pytest.raises(Crash):
        _land(writer, records, batch=40)

    restarted = _writer(storage, Limits(rows=80))
    _land(restarted, records[_recover(restarted) :], batch=40)
    _assert_exactly_once(storage, events)
