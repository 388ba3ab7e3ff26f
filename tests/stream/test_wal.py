import pytest

from stream.storage import StorageError
from stream.wal import LostFileError, Rename, WalRecord, WriteAheadLog, finish_rename
from tests.stream.doubles import MemoryStorage

WAL = "/r/_wal/t+0.wal"


def _storage_with_temps(*temps: str) -> MemoryStorage:
    storage = MemoryStorage()
    for temp in temps:
        storage.write(temp, temp.encode())
    return storage


def test_a_record_round_trips_and_a_torn_one_is_ignored():
    record = WalRecord(41, (Rename("/r/_tmp/a", "/r/dt=x/hr=y/a"),))
    data = record.encode()
    assert WalRecord.decode(data) == record
    for cut in range(len(data)):
        assert WalRecord.decode(data[:cut]) is None


def test_apply_completes_a_logged_publish_and_truncates():
    storage = _storage_with_temps("/r/_tmp/a", "/r/_tmp/b")
    wal = WriteAheadLog(storage, WAL)
    renames = [Rename("/r/_tmp/a", "/r/dt=1/hr=0/a"), Rename("/r/_tmp/b", "/r/dt=1/hr=1/b")]
    wal.log_publish(9, renames)
    finish_rename(storage, renames[0])  # the crash came between the two renames

    assert wal.apply() == 9
    assert set(storage.files) >= {"/r/dt=1/hr=0/a", "/r/dt=1/hr=1/b"}
    assert not {"/r/_tmp/a", "/r/_tmp/b"} & set(storage.files)
    assert wal.read() == WalRecord(9)
    assert wal.apply() == 9  # idempotent


def test_apply_without_a_log_knows_nothing():
    assert WriteAheadLog(MemoryStorage(), WAL).apply() is None


def test_apply_ignores_a_torn_log():
    storage = MemoryStorage()
    storage.write(WAL, WalRecord(3, (Rename("/a", "/b"),)).encode()[:-1])
    assert WriteAheadLog(storage, WAL).apply() is None


def test_finish_rename_accepts_a_rename_whose_answer_was_lost():
    storage = _storage_with_temps("/r/_tmp/a")
    storage.fail("rename", after=True)
    finish_rename(storage, Rename("/r/_tmp/a", "/r/f/a"))
    assert "/r/f/a" in storage.files


def test_finish_rename_raises_when_the_rename_did_not_happen():
    storage = _storage_with_temps("/r/_tmp/a")
    storage.fail("rename")
    with pytest.raises(StorageError):
        finish_rename(storage, Rename("/r/_tmp/a", "/r/f/a"))
    assert "/r/_tmp/a" in storage.files


def test_finish_rename_says_when_the_temp_file_vanished():
    with pytest.raises(LostFileError):
        finish_rename(MemoryStorage(), Rename("/r/_tmp/a", "/r/f/a"))


def test_a_log_whose_files_vanished_proves_nothing():
    storage = MemoryStorage()
    wal = WriteAheadLog(storage, WAL)
    wal.log_publish(9, [Rename("/r/_tmp/a", "/r/f/a")])
    assert wal.apply() is None
    assert not storage.exists(WAL)
