"""The landed layout: every path under the events root, encoded and parsed in one place.

A contract between the lander, which writes it, and the batch jobs, which read it:

    <root>/dt=2026-11-11/hr=00/surge.events+3+0000000000000001200+0000000000000001499.parquet
    <root>/_tmp/surge.events+3/<random>.parquet       a file being written (not visible)
    <root>/_wal/surge.events+3.wal                     the write-ahead log of partition 3

Folders are by the UTC date and hour of `event_time`. The file names are the offset store (as
in Kafka Connect's HDFS sink): a published file says which topic, partition and offsets it
holds, so a restarted lander knows what has landed. Offsets are zero-padded to 19 digits (the
widest signed 64-bit number) so that names sort by offset.

Only names `FileName.encode` can write are parsed, so nothing else in a folder is ever read as
data. Names starting with `_` or `.` are hidden from Spark, Hadoop and pyarrow's dataset
readers: temp files and logs live under such folders, and a topic must not start with either
(a file of its would be hidden too), nor with `-`.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

OFFSET_DIGITS = 19
SUFFIX = ".parquet"
TMP_DIR = "_tmp"
WAL_DIR = "_wal"

# Kafka topic names are [a-zA-Z0-9._-], so a '+' can only be a separator.
TOPIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DT_DIR = re.compile(r"dt=(\d{4}-\d{2}-\d{2})")
_HR_DIR = re.compile(r"hr=(\d{2})")
_FILE = re.compile(
    rf"(?P<topic>{TOPIC.pattern})\+(?P<p>0|[1-9]\d*)"
    rf"\+(?P<first>\d{{{OFFSET_DIGITS}}})\+(?P<last>\d{{{OFFSET_DIGITS}}}){re.escape(SUFFIX)}"
)


@dataclass(frozen=True, order=True)
class Bucket:
    """One dt=/hr= folder: the UTC date and hour of the events in it."""

    dt: str  # YYYY-MM-DD
    hr: str  # HH

    @classmethod
    def of(cls, time: datetime) -> Bucket:
        """The bucket of a datetime: aware, or naive and meant as UTC."""
        if time.tzinfo is not None:
            time = time.astimezone(UTC)
        return cls(f"{time.year:04d}-{time.month:02d}-{time.day:02d}", f"{time.hour:02d}")

    @property
    def folder(self) -> str:
        return f"dt={self.dt}/hr={self.hr}"


@dataclass(frozen=True, order=True)
class FileName:
    """A published file: topic, Kafka partition and the first and last offset it holds."""

    topic: str
    partition: int
    first: int
    last: int

    def encode(self) -> str:
        if TOPIC.fullmatch(self.topic) is None:  # parse would not read it back
            raise ValueError(f"topic {self.topic!r} cannot name a landed file")
        first, last = f"{self.first:0{OFFSET_DIGITS}d}", f"{self.last:0{OFFSET_DIGITS}d}"
        return f"{self.topic}+{self.partition}+{first}+{last}{SUFFIX}"

    @classmethod
    def parse(cls, name: str) -> FileName | None:
        """The parts of a published file's base name; None for any other name."""
        match = _FILE.fullmatch(name)
        if match is None:
            return None
        return cls(match["topic"], int(match["p"]), int(match["first"]), int(match["last"]))


def is_dt_dir(name: str) -> bool:
    return _DT_DIR.fullmatch(name) is not None


def is_hr_dir(name: str) -> bool:
    return _HR_DIR.fullmatch(name) is not None


def hour_folder(root: str, bucket: Bucket) -> str:
    return f"{root.rstrip('/')}/{bucket.folder}"


def final_path(root: str, bucket: Bucket, name: FileName) -> str:
    return f"{hour_folder(root, bucket)}/{name.encode()}"


def tmp_dir(root: str, topic: str, partition: int) -> str:
    """One folder per partition, so that recovery can clear exactly its own leftovers."""
    return posixpath.join(root, TMP_DIR, f"{topic}+{partition}")


def tmp_path(root: str, topic: str, partition: int) -> str:
    # Random: a retried or concurrent write never reuses the name of a file in another state.
    return posixpath.join(tmp_dir(root, topic, partition), f"{uuid.uuid4().hex}{SUFFIX}")


def wal_path(root: str, topic: str, partition: int) -> str:
    return posixpath.join(root, WAL_DIR, f"{topic}+{partition}.wal")
