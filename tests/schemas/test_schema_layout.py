"""The landed layout both stages share: folders, published file names, hidden paths."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas import layout
from schemas.layout import Bucket, FileName

NAME = "surge.events+3+0000000000000001200+0000000000000001499.parquet"


def test_a_file_name_round_trips_and_sorts_by_offset():
    names = [FileName("surge.events", 3, first, first + 9) for first in (0, 10, 990, 1000)]
    encoded = [n.encode() for n in names]
    assert encoded[0] == "surge.events+3+0000000000000000000+0000000000000000009.parquet"
    assert sorted(encoded) == encoded
    assert [FileName.parse(e) for e in encoded] == names
    assert FileName.parse(NAME) == FileName("surge.events", 3, 1200, 1499)


def test_the_widest_offset_fits():
    name = FileName("t", 0, 0, 2**63 - 1)
    assert FileName.parse(name.encode()) == name


@pytest.mark.parametrize(
    "other",
    [
        "part-00000.parquet",
        "_SUCCESS",
        "surge.events+3+0+9.parquet",  # not zero-padded: not a name encode() writes
        "surge.events+03+0000000000000000000+0000000000000000009.parquet",  # nor this
        "surge.events+3+12+x.parquet",
        NAME + ".tmp",
        "." + NAME,  # hidden: Spark and Hadoop skip it, so it is never data
        "_" + NAME,
    ],
)
def test_other_names_are_not_data(other):
    assert FileName.parse(other) is None


@pytest.mark.parametrize("topic", ["_hidden", ".hidden", "-x", "a+b", ""])
def test_a_topic_whose_files_would_be_hidden_or_unreadable_names_no_file(topic):
    with pytest.raises(ValueError):
        FileName(topic, 0, 0, 1).encode()


def test_buckets_are_the_utc_date_and_hour():
    assert Bucket.of(datetime(2026, 11, 10, 16, 59, 59, tzinfo=UTC)).folder == "dt=2026-11-10/hr=16"
    shanghai = timezone(timedelta(hours=8))
    assert Bucket.of(datetime(2026, 11, 11, 0, 30, tzinfo=shanghai)) == Bucket("2026-11-10", "16")
    assert Bucket.of(datetime(2026, 11, 10, 16, 0)) == Bucket("2026-11-10", "16")  # naive: UTC


def test_paths_keep_temp_and_log_files_in_hidden_folders():
    root = "/surge/events"
    name = FileName("surge.events", 1, 5, 7)
    bucket = Bucket("2026-11-11", "00")
    assert layout.hour_folder(root + "/", bucket) == f"{root}/dt=2026-11-11/hr=00"
    final = layout.final_path(root, bucket, name)
    assert final == f"{root}/dt=2026-11-11/hr=00/{name.encode()}"
    temp = layout.tmp_path(root, "surge.events", 1)
    assert temp.startswith(f"{root}/_tmp/surge.events+1/")
    assert temp != layout.tmp_path(root, "surge.events", 1)
    assert layout.wal_path(root, "surge.events", 1) == f"{root}/_wal/surge.events+1.wal"
    assert layout.is_dt_dir("dt=2026-11-11") and layout.is_hr_dir("hr=00")
    assert not layout.is_dt_dir(layout.TMP_DIR) and not layout.is_dt_dir(layout.WAL_DIR)
