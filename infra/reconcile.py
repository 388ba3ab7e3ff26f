"""Reconciliation: what clients were told was accepted, against what landed on HDFS.

Two checks, each of which can fail on its own:

- **The lander's exactly once**, from the published files alone. Their names carry topic,
  partition and first/last offset (the lander's offset store): per partition, the files whose
  ranges overlap (one publish's files of several hours) must hold exactly as many rows as the
  offsets they span, and, given the topic's end offsets, the ranges must cover every record
  (no gap). A record landed twice or not
  at all shows here, whatever the events in it.
- **The clients' view**, from event ids: every id answered 2xx must be in the landed data
  (``lost``). An id landed more than once came twice through Kafka, a client retry of a request
  whose first answer it never saw; the reports remove those (deduplication by device and event
  id), so ``duplicated`` is a figure to show, and ``left_after_dedup`` -- an id still counted
  twice after that deduplication -- must be zero.

Used by ``make run``, the fault suite and the tests; it reads through WebHDFS as any tool would.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pyarrow.parquet as pq
from hdfs import InsecureClient

from stream.filenames import FileName

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

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


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
                table = pq.read_table(io.BytesIO(reader.read()), columns=KEYS)
            landed.files.append(LandedFile(path, name, table.num_rows))
            landed.keys.update(zip(*(table[k].to_pylist() for k in KEYS), strict=True))
    return landed


def check_files(files: Iterable[LandedFile], ends: Mapping[int, int] | None = None) -> list[str]:
    """The lander's exactly once: per partition, every offset in exactly one file, and with
    ``ends`` (partition -> end offset, the next offset to be written) none missing from 0 to
    the end.

    One publish writes one file per hour folder, and a late event puts its offset inside the
    range of the current hour's file: files of one publish interleave. So files whose ranges
    overlap are taken together: their rows must add up to the offsets they span (more: a
    record landed twice; fewer: one never landed)."""
    problems = []
    by_partition: dict[int, list[LandedFile]] = {}
    for f in files:
        by_partition.setdefault(f.name.partition, []).append(f)
    for partition in sorted(set(by_partition) | set(ends or {})):
        expected = 0
        for group in _overlapping(by_partition.get(partition, [])):
            first = group[0].name.first
            last = max(f.name.last for f in group)
            rows = sum(f.rows for f in group)
            if first > expected and ends is not None:
                problems.append(f"partition {partition}: offsets {expected}-{first - 1} not landed")
            if rows != last - first + 1:
                where = group[0].path if len(group) == 1 else f"partition {partition}"
                problems.append(
                    f"{where}: {rows} rows for offsets {first}-{last}"
                    + (f" (overlaps: {len(group)} files)" if len(group) > 1 else "")
                )
            expected = last + 1
        if ends is not None and expected < ends.get(partition, 0):
            problems.append(
                f"partition {partition}: offsets {expected}-{ends[partition] - 1} not landed"
            )
    return problems


def _overlapping(files: list[LandedFile]) -> list[list[LandedFile]]:
    """The files in offset order, grouped where their ranges overlap."""
    groups: list[list[LandedFile]] = []
    last = -1
    for f in sorted(files, key=lambda f: f.name.first):
        if groups and f.name.first <= last:
            groups[-1].append(f)
        else:
            groups.append([f])
        last = max(last, f.name.last) if len(groups[-1]) > 1 else f.name.last
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
