"""Reconciliation: what clients were told was accepted, against what landed on HDFS.

Two checks, each of which can fail on its own:

- **The lander's exactly once**, from the published files alone. Their names carry topic,
  partition and first/last offset (the lander's offset store): per partition, the files of a
  folder must not overlap, the files of one publish (ranges interleaved across hour folders)
  must hold exactly as many rows as their span, and, given the topic's end offsets, the spans
  must cover every record (no gap). A record landed twice or not at all shows here, whatever
  the events in it.
- **The clients' view**, from event ids: every id answered 2xx must be in the landed data
  (``lost``). An id landed more than once came twice through Kafka, a client retry of a request
  whose first answer it never saw; the reports remove those (deduplication by device and event
  id), so ``duplicated`` is a figure to show, and ``left_after_dedup`` -- an id still counted
  twice after that deduplication -- must be zero.

Used by ``make run``, the fault suite and the tests; it reads through WebHDFS as any tool would.
"""

from __future__ import annotations

import io
import posixpath
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow.compute as pc
import pyarrow.parquet as pq
from hdfs import InsecureClient

from schemas.layout import FileName

KEYS = ["device_id", "event_id"]  # the reports' deduplication key


@dataclass(frozen=True)
class LandedFile:
    path: str
    name: FileName
    rows: int


@dataclass
class Landed:
    """What is published under an events root: its files and the key of every row."""

    files: list[LandedFile] = field(default_factory=list)
    keys: Counter[tuple[str, str]] = field(default_factory=Counter)
    # The earliest and latest event_time landed: which business days the reports must cover.
    first_event: datetime | None = None
    last_event: datetime | None = None

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def saw(self, first: datetime | None, last: datetime | None) -> None:
        if first is not None:
            self.first_event = min(filter(None, (self.first_event, first)))
        if last is not None:
            self.last_event = max(filter(None, (self.last_event, last)))


@dataclass
class Reconciliation:
    acked: int  # distinct event ids answered 2xx
    landed_rows: int
    landed_distinct: int  # distinct (device_id, event_id) landed
    lost: list[str]  # acked ids not landed
    duplicated: int  # keys landed more than once (client retries; removed by the reports)
    left_after_dedup: list[str]  # event ids counted more than once after deduplication
    file_problems: list[str]  # the lander's exactly once, broken

    @property
    def passed(self) -> bool:
        return not (self.lost or self.left_after_dedup or self.file_problems)

    def summary(self, limit: int = 10) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [
            f"{verdict}: {self.acked} ids acknowledged, {self.landed_rows} rows landed "
            f"({self.landed_distinct} distinct), {len(self.lost)} lost, "
            f"{self.duplicated} landed twice (client retries, removed by the reports), "
            f"{len(self.left_after_dedup)} counted twice after deduplication"
        ]
        if self.lost:
            lines.append(f"  lost: {', '.join(self.lost[:limit])}")
        if self.left_after_dedup:
            lines.append(f"  counted twice: {', '.join(self.left_after_dedup[:limit])}")
        lines += [f"  files: {problem}" for problem in self.file_problems[:limit]]
        return "\n".join(lines)


def read_landed(client: InsecureClient, root: str, topic: str | None = None) -> Landed:
    """Every published file under ``root`` (of ``topic`` if given) and the keys of its rows.

    Only names that parse as published files count: temp and WAL folders start with ``_``."""
    landed = Landed()
    for folder, _, names in client.walk(root):
        if "/_" in folder[len(root) :]:
            continue
        for base in sorted(names):
            name = FileName.parse(base)
            if name is None or (topic is not None and name.topic != topic):
                continue
            path = f"{folder}/{base}"
            with client.read(path) as reader:
                table = pq.read_table(io.BytesIO(reader.read()), columns=[*KEYS, "event_time"])
            landed.files.append(LandedFile(path, name, table.num_rows))
            landed.keys.update(zip(*(table[k].to_pylist() for k in KEYS), strict=True))
            span = pc.min_max(table["event_time"]).as_py()
            landed.saw(span["min"], span["max"])
    return landed


def check_files(files: Iterable[LandedFile], ends: Mapping[int, int] | None = None) -> list[str]:
    """The lander's exactly once, per partition, from the files' names and row counts.

    One publish of a partition writes one file per hour folder its rows fall in, each named by
    the first and last offset *of its rows*: a buffer whose events span two hours gives two
    files whose ranges interleave. So: files of one folder never overlap (a record landed
    again would land in the same folder); files whose ranges interleave (one publish) hold
    together exactly the offsets of their span; and with ``ends`` (partition -> end offset,
    the next to be written) the spans leave no gap from 0 to the end."""
    problems = []
    by_partition: dict[int, list[LandedFile]] = {}
    for f in files:
        by_partition.setdefault(f.name.partition, []).append(f)
    for partition in sorted(set(by_partition) | set(ends or {})):
        ordered = sorted(by_partition.get(partition, []), key=lambda f: f.name.first)
        doubled = _overlaps_in_folder(ordered)
        problems += [f"{f.path}: overlaps offsets before {before}" for f, before in doubled]
        flagged = {f.path for f, _ in doubled}  # their publish's count is off: said once
        expected = 0
        for publish in _interleaved(ordered):
            first, last = publish[0].name.first, max(f.name.last for f in publish)
            if first > expected and ends is not None:
                problems.append(f"partition {partition}: offsets {expected}-{first - 1} not landed")
            rows = sum(f.rows for f in publish)
            if rows != last - first + 1 and not flagged & {f.path for f in publish}:
                what = publish[0].path if len(publish) == 1 else f"{len(publish)} files"
                problems.append(
                    f"{what}: {rows} rows for offsets {first}-{last} (partition {partition})"
                )
            expected = max(expected, last + 1)
        if ends is not None and expected < ends.get(partition, 0):
            problems.append(
                f"partition {partition}: offsets {expected}-{ends[partition] - 1} not landed"
            )
    return problems


def _overlaps_in_folder(ordered: list[LandedFile]) -> list[tuple[LandedFile, int]]:
    """Files (by first offset) overlapping an earlier file of their folder, with the offset
    that earlier file ends before."""
    reach: dict[str, int] = {}  # folder -> first offset after its files so far
    found = []
    for f in ordered:
        folder = posixpath.dirname(f.path)
        if f.name.first < reach.get(folder, 0):
            found.append((f, reach[folder]))
        reach[folder] = max(reach.get(folder, 0), f.name.last + 1)
    return found


def _interleaved(ordered: list[LandedFile]) -> list[list[LandedFile]]:
    """Files (by first offset) grouped where their ranges overlap: each group one publish."""
    groups: list[list[LandedFile]] = []
    reach = -1
    for f in ordered:
        if groups and f.name.first <= reach:
            groups[-1].append(f)
        else:
            groups.append([f])
        reach = max(reach, f.name.last)
    return groups


def reconcile(
    acked_ids: Iterable[str], landed: Landed, ends: Mapping[int, int] | None = None
) -> Reconciliation:
    acked = set(acked_ids)
    landed_ids = Counter(event_id for _, event_id in landed.keys)
    return Reconciliation(
        acked=len(acked),
        landed_rows=landed.rows,
        landed_distinct=len(landed.keys),
        lost=sorted(acked - landed_ids.keys()),
        duplicated=sum(1 for n in landed.keys.values() if n > 1),
        # After deduplication by (device_id, event_id) an event id is counted once per device:
        # twice only if a client sent one id for two devices.
        left_after_dedup=sorted(i for i, n in landed_ids.items() if n > 1 and i in acked),
        file_problems=check_files(landed.files, ends),
    )
