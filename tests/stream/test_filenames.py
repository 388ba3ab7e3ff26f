from datetime import UTC, datetime

import pytest

from stream import filenames
from stream.filenames import Bucket, FileName


def test_a_file_name_round_trips_and_sorts_by_offset():
    names = [FileName("surge.events", 3, first, first + 9) for first in (0, 10, 990, 1000)]
    encoded = [n.encode() for n in names]
    assert encoded[0] == "surge.events+3+0000000000000000000+0000000000000000009.parquet"
    assert sorted(encoded) == encoded
    assert [FileName.parse(e) for e in encoded] == names


def test_the_widest_offset_fits():
    name = FileName("t", 0, 0, 2**63 - 1)
    assert FileName.parse(name.encode()) == name


@pytest.mark.parametrize(
    "other",
    [
        "part-00000.parquet",
        "surge.events+3+0+9.parquet",  # not zero-padded: not ours
        "surge.events+3+0000000000000000000+0000000000000000009.parquet.tmp",
        "_SUCCESS",
    ],
)
def test_other_names_are_not_ours(other):
    assert FileName.parse(other) is None


def test_buckets_are_utc_date_and_hour():
    bucket = Bucket.of(datetime(2026, 11, 10, 16, 59, 59, tzinfo=UTC))
    assert bucket.folder == "dt=2026-11-10/hr=16"


def test_paths_keep_temp_and_log_files_in_hidden_folders():
    root = "/surge/events"
    name = FileName("surge.events", 1, 5, 7)
    final = filenames.final_path(root, Bucket("2026-11-11", "00"), name)
    assert final == f"{root}/dt=2026-11-11/hr=00/{name.encode()}"
    temp = filenames.tmp_path(root, "surge.events", 1)
    assert temp.startswith(f"{root}/_tmp/surge.events+1/")
    assert temp != filenames.tmp_path(root, "surge.events", 1)
    assert filenames.wal_path(root, "surge.events", 1) == f"{root}/_wal/surge.events+1.wal"
    assert filenames.bucket_of(final, root) == Bucket("2026-11-11", "00")
    assert filenames.bucket_of(temp, root) is None
