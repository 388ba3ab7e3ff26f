"""What has landed, as the batch jobs read it: the data files of the hour folders.

The layout itself (``<root>/dt=YYYY-MM-DD/hr=HH/<topic>+<partition>+<first>+<last>.parquet``,
written whole elsewhere and renamed into place) is the contract in schemas/layout.py, shared
with the lander. Only names that parse as published files are read, so nothing else in a
folder (a temp file, a hidden name, a stray file) ever is.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import time
from dataclasses import dataclass

from batch.day import hour_folder
from batch.hadoop import Entry, FsError, HadoopFs
from schemas.layout import FileName


@dataclass(frozen=True)
class DataFile:
    path: str
    name: FileName
    size: int
    mtime_ms: int


def data_files(fs: HadoopFs, folder: str) -> list[DataFile]:
    """The published files of one hour folder (none if it does not exist), by name."""
    return [f for entry in fs.list(folder) if (f := _data_file(entry)) is not None]


def _data_file(entry: Entry) -> DataFile | None:
    if entry.is_dir:
        return None
    name = FileName.parse(entry.name)
    return None if name is None else DataFile(entry.path, name, entry.size, entry.mtime_ms)


COMPACT_DIR = "_compact"
"""Under the events root: compaction's staging folders (hidden from readers and the lander)."""


SWAP_ASIDE = "old"
"""In a staging folder: the hour folder renamed aside while the compacted one takes its place."""


def compaction_prefix(hour: dt.datetime) -> str:
    """Staging folders of one UTC hour start with this: ``2026-11-11T05-``."""
    return f"{hour.astimezone(dt.UTC):%Y-%m-%dT%H}-"


def hours_files(
    fs: HadoopFs, root: str, hours: list[dt.datetime], swap_wait_s: float = 30.0
) -> list[DataFile]:
    """The published files of these UTC hours' folders; a missing folder holds none.

    A folder can be missing for a few milliseconds while compaction swaps it (see
    batch/compaction.py): then wait for it rather than silently read the hour as empty.
    """
    files = []
    for hour in hours:
        folder = hour_folder(root, hour)
        found = data_files(fs, folder)
        if not found and _swapping(fs, root, hour):
            found = _wait_for(fs, folder, swap_wait_s)
        files.extend(found)
    return files


def _swapping(fs: HadoopFs, root: str, hour: dt.datetime) -> bool:
    prefix = compaction_prefix(hour)
    staging = posixpath.join(root, COMPACT_DIR)
    return any(
        e.name.startswith(prefix) and fs.exists(posixpath.join(e.path, SWAP_ASIDE))
        for e in fs.list(staging)
    )


def _wait_for(fs: HadoopFs, folder: str, wait_s: float) -> list[DataFile]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if fs.exists(folder):
            return data_files(fs, folder)
    raise FsError(
        f"{folder} is missing while its compaction is in progress for over {wait_s:.0f} s: "
        "an interrupted compaction; run batch/compact.py on that hour to finish it"
    )
