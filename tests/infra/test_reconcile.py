"""Reconciliation finds each kind of loss and doubling on its own (no stack needed)."""

from __future__ import annotations

from collections import Counter

from infra.reconcile import Landed, LandedFile, check_files, reconcile
from schemas.layout import FileName


def _file(
    partition: int, first: int, last: int, rows: int | None = None, hour: str = "00"
) -> LandedFile:
    name = FileName("surge.events", partition, first, last)
    path = f"/r/dt=2026-11-11/hr={hour}/{name.encode()}"
    return LandedFile(path, name, rows or last - first + 1)


def test_contiguous_files_that_reach_the_end_pass() -> None:
    files = [_file(0, 0, 9), _file(0, 10, 19), _file(1, 0, 4)]
    assert check_files(files, {0: 20, 1: 5, 2: 0}) == []


def test_a_gap_an_overlap_a_short_file_and_a_missing_tail_are_each_found() -> None:
    gap = check_files([_file(0, 0, 9), _file(0, 12, 19)], {0: 20})
    assert gap == ["partition 0: offsets 10-11 not landed"]
    overlap = check_files([_file(0, 0, 9), _file(0, 5, 19)], {0: 20})
    assert len(overlap) == 1 and "overlaps offsets before 10" in overlap[0]
    short = check_files([_file(0, 0, 9, rows=9)])
    assert len(short) == 1 and "9 rows for offsets 0-9" in short[0]
    tail = check_files([_file(0, 0, 9)], {0: 15, 3: 2})
    assert tail == ["partition 0: offsets 10-14 not landed", "partition 3: offsets 0-1 not landed"]


def test_a_publish_split_over_hour_folders_holds_its_span_between_its_files() -> None:
    # One buffer of offsets 0-9: late events (7 and 9) in hr=00, the rest in hr=01.
    publish = [_file(0, 0, 8, rows=8, hour="01"), _file(0, 7, 9, rows=2, hour="00")]
    assert check_files([*publish, _file(0, 10, 19, hour="01")], {0: 20}) == []
    short = check_files([publish[0], _file(0, 7, 9, rows=1, hour="00")], {0: 10})
    assert short == ["2 files: 9 rows for offsets 0-9 (partition 0)"]
    again = check_files([*publish, _file(0, 9, 9, rows=1, hour="00")], {0: 10})
    assert len(again) == 1 and "hr=00" in again[0] and "overlaps offsets before 10" in again[0]


def test_the_interleaved_files_of_one_publish_pass_only_if_they_hold_every_offset() -> None:
    # One publish, two hours: offsets 10 and 15 are late events of the earlier hour.
    publish = [_file(0, 0, 9), _file(0, 10, 15, rows=2), _file(0, 11, 19, rows=8, hour="01")]
    assert check_files(publish, {0: 20}) == []
    short = [_file(0, 0, 9), _file(0, 10, 15, rows=2), _file(0, 11, 19, rows=7, hour="01")]
    assert check_files(short, {0: 20}) == ["2 files: 9 rows for offsets 10-19 (partition 0)"]


def test_without_end_offsets_only_overlaps_and_sizes_are_checked() -> None:
    assert check_files([_file(0, 5, 9), _file(0, 20, 29)]) == []


def test_ids_lost_doubled_by_retries_and_counted_twice_are_told_apart() -> None:
    landed = Landed(
        files=[_file(0, 0, 4)],
        keys=Counter({("d1", "a"): 2, ("d1", "b"): 1, ("d2", "c"): 1, ("d3", "c"): 1}),
    )
    result = reconcile(["a", "b", "c", "lost-1"], landed, {0: 5})
    assert result.lost == ["lost-1"]
    assert result.duplicated == 1  # ("d1", "a") twice: a client retry, removed by the reports
    assert result.left_after_dedup == ["c"]  # one id under two devices stays twice
    assert not result.passed
    assert result.summary().startswith("FAIL: 4 ids acknowledged, 5 rows landed (4 distinct)")


def test_a_clean_run_passes() -> None:
    landed = Landed(files=[_file(0, 0, 2)], keys=Counter({("d1", "a"): 2, ("d1", "b"): 1}))
    result = reconcile(["a", "b"], landed, {0: 3})
    assert result.passed and result.duplicated == 1
    assert result.summary().startswith("PASS")
