"""Compaction: merge the small files of closed hour folders, each folder published in one swap.

Which folders: an hour folder is closed ``closed_after_s`` after its hour ended (more than the
lander's rotation age plus its publish retries); the current hour and younger ones are never
touched. A folder is rewritten when merging saves files: its files are packed per Kafka
partition, in offset order, into bins up to ``target_file_mb``; a folder already packed is
left alone, so a second run does nothing.

Names: a compacted file is named like a lander file, ``<topic>+<partition>+<first>+<last>``
with the smallest first and largest last offset of its inputs. The lander derives each
partition's next offset from the largest last offset in the names (stream/landed.py), so that
survives compaction. Its write-ahead log also keeps the last published offset, which covers
the instant of the swap when the folder is absent.

Publishing one folder, under ``<root>/_compact/<YYYY-MM-DDTHH>-<token>/`` (hidden from readers
and from the lander's scan, which only looks at dt=/hr= folders):
1. ``inputs/<name>``: an empty marker per input file -- the manifest, written first;
2. each bin is written by Spark, its part file renamed to its final name under ``new/``;
   the row count of ``new/`` must equal the inputs' or nothing is published;
3. if the folder no longer holds exactly the inputs (a late file landed), give up for now;
4. swap: rename the folder to ``old/``, rename ``new/`` to the folder. If the lander re-created
   the folder in between (it makes the folder before renaming a file in), the files it put
   there join ``new/`` first. Then any file in ``old/`` that is not an input (landed between
   step 3 and the swap) is moved into the folder, and the staging folder is deleted.

A reader listing the folder sees the old files or the new ones: never both, never a part.
In the instant between the two renames the folder is absent; batch/landed.py waits for it
rather than read the hour as empty. A reader that listed the old files and opens them after
the swap fails loudly (file not found) and must be rerun: the swap cannot keep paths.

A crash anywhere is repaired by the next run (``recover``): without ``old/`` the swap never
started and the staging folder is dropped; with ``new/`` still there the swap is finished;
then non-inputs go back from ``old/``. One compaction per root at a time (``_compact/.lock``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import posixpath
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

from pyspark.sql import SparkSession

from batch.day import HOUR, hour_folder
from batch.hadoop import FsError, HadoopFs
from batch.landed import COMPACT_DIR, SWAP_ASIDE, DataFile, compaction_prefix, data_files
from schemas import spark_schema
from schemas.layout import FileName

LOCK = ".lock"
LOCK_STALE_S = 6 * 3600  # a lock this old was left by a crashed run
INPUTS, NEW = "inputs", "new"


class CompactionBusy(RuntimeError):
    """Another compaction holds the lock of this root."""


@dataclass(frozen=True)
class Bin:
    """Input files merged into one output file."""

    name: FileName
    files: tuple[DataFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class Outcome:
    folder: str
    compacted: bool
    detail: str

    def __str__(self) -> str:
        return f"{'compacted' if self.compacted else 'skipped'} {self.folder}: {self.detail}"


def plan(files: list[DataFile], target_bytes: int) -> list[Bin]:
    """Per (topic, partition), files in offset order packed greedily into bins <= target."""
    by_partition: dict[tuple[str, int], list[DataFile]] = defaultdict(list)
    for file in files:
        by_partition[(file.name.topic, file.name.partition)].append(file)
    bins = []
    for (topic, partition), group in sorted(by_partition.items()):
        current: list[DataFile] = []
        for file in sorted(group, key=lambda f: (f.name.first, f.name.last)):
            if current and sum(f.size for f in current) + file.size > target_bytes:
                bins.append(_bin(topic, partition, current))
                current = []
            current.append(file)
        bins.append(_bin(topic, partition, current))
    return bins


def _bin(topic: str, partition: int, files: list[DataFile]) -> Bin:
    first, last = min(f.name.first for f in files), max(f.name.last for f in files)
    return Bin(FileName(topic, partition, first, last), tuple(files))


class Compactor:
    def __init__(self, spark: SparkSession, root: str, target_bytes: int, closed_after_s: int):
        self.spark = spark
        self.fs = HadoopFs(spark, root)
        self.root = self.fs.qualify(root)
        self.staging_root = posixpath.join(self.root, COMPACT_DIR)
        self.target_bytes = target_bytes
        self.closed_after = dt.timedelta(seconds=closed_after_s)

    # -- the run ---------------------------------------------------------------------------

    def run(self, hours: list[dt.datetime], now: dt.datetime) -> list[Outcome]:
        """Recover interrupted swaps, then compact each closed hour; holds the root's lock."""
        lock = self._lock()
        try:
            outcomes = [
                Outcome(folder, True, "finished an interrupted swap") for folder in self.recover()
            ]
            outcomes.extend(self.compact_hour(hour, now) for hour in hours)
            return outcomes
        finally:
            self.fs.delete(lock)

    def compact_hour(self, hour: dt.datetime, now: dt.datetime) -> Outcome:
        folder = hour_folder(self.root, hour)
        short = folder.removeprefix(self.root).lstrip("/")
        closes = hour + HOUR + self.closed_after
        if now < closes:
            return Outcome(short, False, f"not closed before {closes:%Y-%m-%dT%H:%M:%SZ}")
        files = data_files(self.fs, folder)
        bins = plan(files, self.target_bytes)
        if len(bins) >= len(files):
            return Outcome(short, False, f"nothing to merge ({len(files)} files)")
        started = time.monotonic()
        staging = posixpath.join(
            self.staging_root, f"{compaction_prefix(hour)}{uuid.uuid4().hex[:12]}"
        )
        try:
            rows = self._stage(staging, files, bins)
            now_there = {f.name for f in data_files(self.fs, folder)}
            if now_there != {f.name for f in files}:
                self.fs.delete(staging, recursive=True)
                return Outcome(short, False, "files landed while compacting; next run")
            self.fs.rename(folder, posixpath.join(staging, SWAP_ASIDE))
            self._complete(staging, folder)
        except BaseException:
            if not self.fs.exists(posixpath.join(staging, SWAP_ASIDE)):
                self.fs.delete(staging, recursive=True)  # the folder was never touched
            raise  # a swap under way is finished by the next run's recover()
        mb = sum(f.size for f in files) / 2**20
        return Outcome(
            short,
            True,
            f"{len(files)} files ({mb:.1f} MiB) -> {len(bins)}, {rows} rows "
            f"({time.monotonic() - started:.1f} s)",
        )

    def recover(self) -> list[str]:
        """Finish or drop what interrupted runs left under _compact/; the folders repaired."""
        repaired = []
        for entry in self.fs.list(self.staging_root):
            if not entry.is_dir:
                continue
            folder = _folder_of(self.root, entry.name)
            if self.fs.exists(posixpath.join(entry.path, SWAP_ASIDE)):
                self._complete(entry.path, folder)
                repaired.append(folder.removeprefix(self.root).lstrip("/"))
            else:  # the swap never started: the folder is as it was
                self.fs.delete(entry.path, recursive=True)
        return repaired

    # -- steps -----------------------------------------------------------------------------

    def _stage(self, staging: str, files: list[DataFile], bins: list[Bin]) -> int:
        """Write the manifest and the compacted files under staging; returns the row count."""
        for file in files:
            self.fs.create_empty(posixpath.join(staging, INPUTS, file.name.encode()))
        new = posixpath.join(staging, NEW)
        self.fs.mkdirs(new)
        read = self.spark.read.schema(spark_schema())
        for i, merged in enumerate(bins):
            out = posixpath.join(staging, f"bin-{i}")
            read.parquet(*(f.path for f in merged.files)).coalesce(1).write.parquet(out)
            [part] = [e for e in self.fs.list(out) if e.name.endswith(".parquet")]
            self.fs.rename(part.path, posixpath.join(new, merged.name.encode()))
            self.fs.delete(out, recursive=True)
        rows_in = read.parquet(*(f.path for f in files)).count()
        rows_out = read.parquet(new).count()
        if rows_out != rows_in:
            raise FsError(f"compacted {rows_out} rows from {rows_in}: not published ({staging})")
        return rows_out

    def _complete(self, staging: str, folder: str) -> None:
        """From "folder renamed to old/": new/ into place, late files back, staging dropped."""
        old, new = posixpath.join(staging, SWAP_ASIDE), posixpath.join(staging, NEW)
        for _attempt in range(10):
            if not self.fs.exists(new):
                break
            if self.fs.exists(folder):
                self._absorb(folder, new)
            try:
                self.fs.rename(new, folder)
            except FsError:
                if not self.fs.exists(folder):
                    raise
        if self.fs.exists(new):
            raise FsError(f"{folder} keeps being re-created; swap left in {staging}")
        inputs = {e.name for e in self.fs.list(posixpath.join(staging, INPUTS))}
        for entry in self.fs.list(old):
            if entry.name not in inputs:  # landed after the manifest was written
                self.fs.rename(entry.path, posixpath.join(folder, entry.name))
        self.fs.delete(staging, recursive=True)

    def _absorb(self, folder: str, new: str) -> None:
        """The folder was re-created by the lander mid-swap: move what it put there into new/."""
        for entry in self.fs.list(folder):
            self.fs.rename(entry.path, posixpath.join(new, entry.name))
        # Not recursive: fails if yet another file arrived; the next attempt absorbs it.
        with contextlib.suppress(FsError):
            self.fs.delete(folder)

    def _lock(self) -> str:
        path = posixpath.join(self.staging_root, LOCK)
        self.fs.mkdirs(self.staging_root)
        if self.fs.create_empty(path):
            return path
        held = self.fs.status(path)
        if held is not None and time.time() * 1000 - held.mtime_ms > LOCK_STALE_S * 1000:
            self.fs.delete(path)
            if self.fs.create_empty(path):
                return path
        raise CompactionBusy(f"another compaction holds {path} (delete it if none runs)")


def _folder_of(root: str, staging_name: str) -> str:
    """The hour folder of a staging folder named ``YYYY-MM-DDTHH-<token>``."""
    hour = dt.datetime.strptime(staging_name[:13], "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
    return hour_folder(root, hour)
