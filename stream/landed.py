"""What has landed: the published files under the root, read from their names.

The next offset of a partition is the largest last offset in its file names, plus one. Files
of one partition can be in any dt=/hr= folder (a late event lands in an old hour), so every
folder is listed; one walk serves every partition recovered at once.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from schemas.layout import Bucket, FileName, is_dt_dir, is_hr_dir
from stream.storage import Storage


@dataclass(frozen=True)
class LandedFile:
    path: str
    bucket: Bucket
    name: FileName


def landed_files(storage: Storage, root: str, topic: str) -> list[LandedFile]:
    """Every published file of `topic` under `root`, in folder then name order."""
    found = []
    for dt in filter(is_dt_dir, storage.list(root)):
        for hr in filter(is_hr_dir, storage.list(posixpath.join(root, dt))):
            folder = posixpath.join(root, dt, hr)
            bucket = Bucket(dt.removeprefix("dt="), hr.removeprefix("hr="))
            for base in storage.list(folder):
                name = FileName.parse(base)
                if name is not None and name.topic == topic:
                    found.append(LandedFile(posixpath.join(folder, base), bucket, name))
    return found


def last_offsets(files: list[LandedFile]) -> dict[int, int]:
    """{partition: largest last offset published}."""
    last: dict[int, int] = {}
    for file in files:
        p = file.name.partition
        last[p] = max(last.get(p, -1), file.name.last)
    return last
