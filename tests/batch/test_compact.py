"""Compaction on the real HDFS: same rows, same offsets in the names, open hours untouched,
reports unchanged, interrupted swaps repaired."""

from __future__ import annotations

import datetime as dt
import io
import posixpath
from collections import Counter

import pyarrow.parquet as pq
import pytest

from batch import compact, reports
from batch.compaction import SWAP_ASIDE, Compactor, plan
from batch.day import hour_folder
from batch.hadoop import FsError, HadoopFs
from batch.landed import COMPACT_DIR, DataFile, data_files, hours_files
from schemas import spark_schema
from schemas.layout import FileName
from stream.rows import to_table

# The conftest day, plus a busy-but-quiet hour of small files, and small files in hour 23.
NOW = dt.datetime(2026, 11, 12, 0, 10, tzinfo=dt.UTC)  # hour 23 of 11-11 is not closed yet
QUIET = "2026-11-11/07"


def small_files(kit, folder: str, partition: int, n: int) -> list:
    """n lander files of 3 page views each in one hour folder."""
    day, hour = folder.split("/")
    return [
        kit.File(folder, partition, tuple(
            kit.event(f"q{partition}-{i}-{j}", "page_view", f"{day}T{hour}:{10 * j:02d}:{i:02d}Z",
                      f"dq{i % 4}", session="sq")
            for j in range(3)
        ))
        for i in range(n)
    ]  # fmt: skip


def name(partition: int, first: int, last: int) -> str:
    return FileName("surge.events", partition, first, last).encode()


def land(kit, hdfs_client, root: str, file, name: str) -> None:
    """One lander file published under ``name`` in its folder."""
    day, hour = file.folder.split("/")
    table = to_table(file.events)
    hdfs_client.write(f"{root}/dt={day}/hr={hour}/{name}", data=kit.parquet_bytes(table))


@pytest.fixture(scope="module")
def layout(kit, hdfs_client, test_root, stack):
    files = (
        *kit.FILES,
        *small_files(kit, QUIET, 0, 6),
        *small_files(kit, QUIET, 1, 3),
        *small_files(kit, "2026-11-11/23", 0, 3),
    )
    root = f"{test_root}/compaction/events"
    kit.write_files(hdfs_client, root, files)
    junk = kit.File(QUIET, 0, (kit.event("j", "page_view", "2026-11-11T07:00:00Z", "dj"),))
    land(
        kit,
        hdfs_client,
        root,
        junk,
        ".surge.events+0+0000000000000000999+0000000000000000999.parquet",
    )
    land(kit, hdfs_client, root, junk, "_tmp/x")
    return f"{stack.hdfs_default_fs}{root}"


def listing(fs: HadoopFs, root: str, folder: str) -> list[str]:
    return [e.name for e in fs.list(f"{root}/{folder}")]


def all_rows(spark, fs: HadoopFs, root: str) -> Counter:
    paths = [
        f.path
        for dt_dir in fs.list(root)
        if dt_dir.name.startswith("dt=")
        for hr_dir in fs.list(dt_dir.path)
        for f in data_files(fs, hr_dir.path)
    ]
    rows = spark.read.schema(spark_schema()).parquet(*paths).collect()
    return Counter(repr(r) for r in rows)


def last_offsets(fs: HadoopFs, root: str) -> dict[int, int]:
    """What the lander's recovery reads: the largest last offset per partition in the names."""
    last: dict[int, int] = {}
    for dt_dir in fs.list(root):
        for hr_dir in fs.list(dt_dir.path) if dt_dir.name.startswith("dt=") else []:
            for f in data_files(fs, hr_dir.path):
                last[f.name.partition] = max(last.get(f.name.partition, -1), f.name.last)
    return last


def report_rows(spark, reports_root: str) -> dict[str, list]:
    got = {}
    for name in ("_quality", "traffic_daily", "sales_daily", "top_products", "funnel_daily"):
        rows = spark.read.parquet(f"{reports_root}/{name}/dt=2026-11-11").collect()
        # fewer files after compaction: everything else must be the same
        got[name] = [{k: v for k, v in r.asDict(True).items() if k != "files_read"} for r in rows]
    return got


@pytest.fixture(scope="module")
def compacted(spark, layout):
    """The layout before (rows, offsets, reports) and after one compaction run of both dates."""
    fs = HadoopFs(spark, layout)
    before_reports = layout.replace("/events", "/reports-before")
    reports.main(["--date", "2026-11-11", "--events", layout, "--reports", before_reports])
    before = {
        "rows": all_rows(spark, fs, layout),
        "offsets": last_offsets(fs, layout),
        "quiet": listing(fs, layout, "dt=2026-11-11/hr=07"),
        "hour23": listing(fs, layout, "dt=2026-11-11/hr=23"),
        "reports": report_rows(spark, before_reports),
    }
    common = ["--events", layout, "--target-file-mb", "1"]
    for date in ("2026-11-10", "2026-11-11"):
        assert compact.main(["--date", date, *common], now=NOW) == 0
    return fs, before


def test_compaction_keeps_the_row_multiset(spark, layout, compacted):
    fs, before = compacted
    assert all_rows(spark, fs, layout) == before["rows"]


def test_compacted_names_keep_each_partitions_offsets(layout, compacted):
    fs, before = compacted
    assert len(before["quiet"]) == 11  # 9 small files + a hidden one + a _tmp folder
    # 6 files of partition 0 (offsets 9..26) and 3 of partition 1 (5..13) -> one file each
    assert listing(fs, layout, "dt=2026-11-11/hr=07") == [
        ".surge.events+0+0000000000000000999+0000000000000000999.parquet",  # not ours: kept
        "_tmp",
        "surge.events+0+0000000000000000009+0000000000000000026.parquet",
        "surge.events+1+0000000000000000005+0000000000000000013.parquet",
    ]
    # partition 0's two files of hour 16 (offsets 0..5 and the retried payment at 6)
    assert "surge.events+0+0000000000000000000+0000000000000000006.parquet" in listing(
        fs, layout, "dt=2026-11-10/hr=16"
    )
    assert last_offsets(fs, layout) == before["offsets"]


def test_compacted_files_have_the_lander_files_arrow_types(layout, compacted, hdfs_client, stack):
    def arrow_types(folder: str, file: str) -> list:
        path = f"{layout.removeprefix(stack.hdfs_default_fs)}/{folder}/{file}"
        with hdfs_client.read(path) as reader:
            schema = pq.read_schema(io.BytesIO(reader.read()))
        return [(f.name, str(f.type)) for f in schema]

    compacted_types = arrow_types("dt=2026-11-11/hr=07", name(0, 9, 26))
    lander_types = arrow_types("dt=2026-11-11/hr=02", name(0, 7, 7))  # never compacted
    assert compacted_types == lander_types  # timestamps us UTC (not INT96), decimal(18, 4)...
    assert ("event_time", "timestamp[us, tz=UTC]") in compacted_types


def test_the_lander_recovers_the_same_offsets_after_compaction(layout, compacted, stack):
    landed = pytest.importorskip("stream.landed")
    storage = pytest.importorskip("stream.storage").HdfsStorage(stack.webhdfs_url, stack.hdfs_user)
    _, before = compacted
    root = layout.removeprefix(stack.hdfs_default_fs)
    files = landed.landed_files(storage, root, "surge.events")
    assert landed.last_offsets(files) == before["offsets"]


def test_an_open_hour_is_not_touched(layout, compacted):
    fs, before = compacted
    assert listing(fs, layout, "dt=2026-11-11/hr=23") == before["hour23"]
    assert len(before["hour23"]) == 4


def test_reports_are_identical_after_compaction(spark, layout, compacted):
    _, before = compacted
    after_reports = layout.replace("/events", "/reports-after")
    reports.main(["--date", "2026-11-11", "--events", layout, "--reports", after_reports])
    assert report_rows(spark, after_reports) == before["reports"]


def test_a_second_run_changes_nothing(spark, layout, compacted, capsys):
    fs, _ = compacted
    folders = ("dt=2026-11-10/hr=16", "dt=2026-11-11/hr=07")
    first = {f: listing(fs, layout, f) for f in folders}
    assert compact.main(["--date", "2026-11-11", "--events", layout], now=NOW) == 0
    out = capsys.readouterr().out
    assert "skipped dt=2026-11-11/hr=07: nothing to merge (2 files)" in out
    assert "skipped dt=2026-11-11/hr=23: not closed before 2026-11-12T00:15:00Z" in out
    assert {f: listing(fs, layout, f) for f in folders} == first
    assert fs.list(f"{layout}/{COMPACT_DIR}") == []  # no lock, no staging left


def interrupted(spark, kit, hdfs_client, url: str, partition: int):
    """A compaction of hour 07 that crashed right after renaming the folder aside."""
    root = url.removeprefix(url.split("/", 3)[0] + "//" + url.split("/", 3)[2])
    kit.write_files(hdfs_client, root, tuple(small_files(kit, QUIET, partition, 4)), junk=False)
    compactor = Compactor(spark, url, target_bytes=2**20, closed_after_s=0)
    folder = hour_folder(compactor.root, HOUR)
    files = data_files(compactor.fs, folder)
    before = all_rows(spark, compactor.fs, url)
    staging = posixpath.join(compactor.staging_root, "2026-11-11T07-crashed")
    compactor._stage(staging, files, plan(files, 2**20))
    compactor.fs.rename(folder, posixpath.join(staging, SWAP_ASIDE))
    return compactor, folder, before


HOUR = dt.datetime(2026, 11, 11, 7, tzinfo=dt.UTC)


def test_a_missing_folder_mid_swap_is_waited_for_then_finished_by_the_next_run(
    spark, kit, hdfs_client, test_root, stack
):
    url = f"{stack.hdfs_default_fs}{test_root}/interrupted/events"
    compactor, folder, before = interrupted(spark, kit, hdfs_client, url, partition=2)
    with pytest.raises(FsError, match="interrupted compaction"):
        hours_files(compactor.fs, compactor.root, [HOUR], swap_wait_s=0.5)
    assert [o.detail for o in compactor.run([], NOW)] == ["finished an interrupted swap"]
    assert all_rows(spark, compactor.fs, url) == before
    assert [f.name.encode() for f in data_files(compactor.fs, folder)] == [
        "surge.events+2+0000000000000000000+0000000000000000011.parquet"
    ]


def test_a_folder_re_created_mid_swap_keeps_its_late_file(
    spark, kit, hdfs_client, test_root, stack
):
    url = f"{stack.hdfs_default_fs}{test_root}/recreated/events"
    compactor, folder, before = interrupted(spark, kit, hdfs_client, url, partition=3)
    # The lander publishes a late event of hour 07: it makes the folder again, then renames.
    late = kit.File(QUIET, 3, (kit.event("late", "page_view", "2026-11-11T07:59:00Z", "dl"),))
    root = url.removeprefix(stack.hdfs_default_fs)
    land(
        kit,
        hdfs_client,
        root,
        late,
        "surge.events+3+0000000000000000100+0000000000000000100.parquet",
    )
    compactor.run([], NOW)
    after = all_rows(spark, compactor.fs, url)
    added = after - before
    assert sum(added.values()) == 1 and "'late'" in next(iter(added))
    assert sum(after.values()) == sum(before.values()) + 1
    assert [f.name.encode() for f in data_files(compactor.fs, folder)] == [
        "surge.events+3+0000000000000000000+0000000000000000011.parquet",
        "surge.events+3+0000000000000000100+0000000000000000100.parquet",
    ]


def test_plan_packs_each_partition_in_offset_order_up_to_the_target():
    def f(p, first, last, size):
        return DataFile(f"/x/{p}-{first}", FileName("t", p, first, last), size, 0)

    files = [f(0, 20, 29, 40), f(0, 0, 9, 40), f(0, 10, 19, 40), f(1, 5, 5, 200), f(1, 6, 6, 1)]
    bins = plan(files, target_bytes=100)
    assert [(b.name.partition, b.name.first, b.name.last, b.size) for b in bins] == [
        (0, 0, 19, 80),
        (0, 20, 29, 40),
        (1, 5, 5, 200),  # bigger than the target: alone
        (1, 6, 6, 1),
    ]
