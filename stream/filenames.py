"""Every path the lander writes, encoded and parsed in one place.

The file names are the offset store (as in Kafka Connect's HDFS sink): a published file says
which topic, partition and offsets it holds, so a restarted lander knows what has landed.

    <root>/dt=2026-11-11/hr=00/surge.events+3+0000000000000001200+0000000000000001499.parquet
    <root>/_tmp/surge.events+3/<random>.parquet       a file being written (not visible)
    <root>/_wal/surge.events+3.wal                     the write-ahead log of partition 3

Offsets are zero-padded to 19 digits (the widest signed 64-bit number) so names sort by
offset. Folders starting with `_` are skipped by Spark and pyarrow dataset readers, so
temporary and log files are never read as data.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

OFFSET_DIGITS = 19
SUFFIX = ".parquet"
TMP_DIR = "_tmp"
WAL_DIR = "_wal"

_DT_DIR = re.compile(r"dt=(\d{4}-\d{2}-\d{2})")
_HR_DIR = re.compile(r"hr=(\d{2})")
# Kafka topic names are [a-zA-Z0-9._-]: a '+' can only be a separator.
_FILE = re.compile(r"(?P<topic>[A-Za-z0-9._-]+)\+(?P<p>\d+)\+(?P<first>\d{19})\+(?P<last>\d{19})")


@dataclass(frozen=True, order=True)
class Bucket:
    """One dt=/hr= folder: the UTC date and hour of the events in it."""

    dt: str  # YYYY-MM-DD
    hr: str  # HH

    @classmethod
    def of(cls, event_time: datetime) -> Bucket:
        """The bucket of an aware UTC datetime (what schemas.to_row gives for event_time)."""
        return cls(event_time.strftime("%Y-%m-%d"), event_time.strftime("%H"))

    @property
    def folder(self) -> str:
        return f"dt={self.dt}/hr={self.hr}"


@dataclass(frozen=True)
class FileName:
    """A published file: topic, partition and the first and last offset of its records."""

    topic: str
    partition: int
    first: int
    last: int

    def encode(self) -> str:
        first, last = f"{self.first:0{OFFSET_DIGITS}d}", f"{self.last:0{OFFSET_DIGITS}d}"
        return f"{self.topic}+{self.partition}+{first}+{last}{SUFFIX}"

    @classmethod
    def parse(cls, name: str) -> FileName | None:
        """The parts of a published file's base name; None for any other name."""
        if not name.endswith(SUFFIX):
            return None
        match = _FILE.fullmatch(name[: -len(SUFFIX)])
        if match is None:
            return None
        return cls(match["topic"], int(match["p"]), int(match["first"]), int(match["last"]))


def final_path(root: str, bucket: Bucket, name: FileName) -> str:
    return posixpath.join(root, bucket.folder, name.encode())


def tmp_dir(root: str, topic: str, partition: int) -> str:
    """One folder per partition, so that recovery can clear exactly its own leftovers."""
    return posixpath.join(root, TMP_DIR, f"{topic}+{partition}")


def tmp_path(root: str, topic: str, partition: int) -> str:
    # Random: a retried or concurrent write never reuses the name of a file in another state.
    return posixpath.join(tmp_dir(root, topic, partition), f"{uuid.uuid4().hex}{SUFFIX}")


def wal_path(root: str, topic: str, partition: int) -> str:
    return posixpath.join(root, WAL_DIR, f"{topic}+{partition}.wal")


def is_dt_dir(name: str) -> bool:
    return _DT_DIR.fullmatch(name) is not None


def is_hr_dir(name: str) -> bool:
    return _HR_DIR.fullmatch(name) is not None


def bucket_of(path: str, root: str) -> Bucket | None:
    """The bucket of a path under root/dt=.../hr=.../, or None."""
    parts = posixpath.relpath(path, root).split("/")
    if len(parts) < 2:
        return None
    dt, hr = _DT_DIR.fullmatch(parts[0]), _HR_DIR.fullmatch(parts[1])
    return Bucket(dt[1], hr[1]) if dt and hr else None
