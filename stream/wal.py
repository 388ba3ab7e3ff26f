"""The write-ahead log of one partition: a publish of several files is all or nothing.

One rotation can publish several files (one per dt=/hr= folder), and the next offset is
recovered as the largest last offset in the file names. Were a crash to leave only some of
those files renamed, the largest name could claim offsets whose records are still in a
temporary file. So the renames are logged before any is done:

    write every temp file -> log {renames, last offset} -> rename each -> truncate the log

Recovery applies a logged publish (renames the temp files that are still there) and then
truncates. A log that cannot be read back whole was torn by a crash while being written; the
renames it was about to announce never started, so it is ignored. The truncated log keeps the
last offset published, a second witness beside the file names (it survives a compaction or
a retention job that removes the newest file).
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass

import orjson

from stream.storage import Storage, StorageError

log = logging.getLogger(__name__)
VERSION = 1


class LostFileError(StorageError):
    """Neither the temp file nor its final name exists: someone else removed our temp file."""


@dataclass(frozen=True)
class Rename:
    temp: str
    final: str


@dataclass(frozen=True)
class WalRecord:
    last_offset: int
    renames: tuple[Rename, ...] = ()  # empty once applied: the truncated log

    def encode(self) -> bytes:
        body = {
            "version": VERSION,
            "last_offset": self.last_offset,
            "renames": [[r.temp, r.final] for r in self.renames],
        }
        return orjson.dumps(body)

    @classmethod
    def decode(cls, data: bytes) -> WalRecord | None:
        """None for a torn or foreign log: a prefix of a JSON object never parses."""
        try:
            body = orjson.loads(data)
            renames = tuple(Rename(temp, final) for temp, final in body["renames"])
            return cls(int(body["last_offset"]), renames)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


def finish_rename(storage: Storage, rename: Rename) -> None:
    """Rename a temp file to its final name, or confirm an earlier attempt did it."""
    storage.mkdirs(posixpath.dirname(rename.final))
    try:
        storage.rename(rename.temp, rename.final)
    except StorageError:
        # The answer may have been lost after the NameNode renamed: look before retrying.
        temp_there, final_there = storage.exists(rename.temp), storage.exists(rename.final)
        if final_there and not temp_there:
            return
        if not temp_there and not final_there:
            raise LostFileError(f"{rename.temp} vanished before becoming {rename.final}") from None
        raise


class WriteAheadLog:
    def __init__(self, storage: Storage, path: str):
        self.storage = storage
        self.path = path

    def read(self) -> WalRecord | None:
        data = self.storage.read(self.path)
        if data is None:
            return None
        record = WalRecord.decode(data)
        if record is None:
            log.warning("ignoring torn write-ahead log %s (%d bytes)", self.path, len(data))
        return record

    def log_publish(self, last_offset: int, renames: list[Rename]) -> None:
        """The commit point: once this returns, recovery completes the publish."""
        self.storage.write(self.path, WalRecord(last_offset, tuple(renames)).encode())

    def truncate(self, last_offset: int) -> None:
        self.storage.write(self.path, WalRecord(last_offset).encode())

    def apply(self) -> int | None:
        """Complete a logged publish, truncate; the last offset the log knows as published."""
        record = self.read()
        if record is None:
            return None
        lost = []
        for rename in record.renames:
            try:
                finish_rename(self.storage, rename)
            except LostFileError as exc:
                lost.append(exc)  # not retryable: nobody has that file any more
        if lost:
            # A log whose files vanished was written by a lander that no longer owned the
            # partition (its temp files were cleared by a recovery): its offset proves nothing.
            log.error("write-ahead log %s: %s; trusting the file names", self.path, lost[0])
            self.storage.delete(self.path)
            return None
        if record.renames:
            log.info("applied %d logged renames of %s", len(record.renames), self.path)
            self.truncate(record.last_offset)
        return record.last_offset
