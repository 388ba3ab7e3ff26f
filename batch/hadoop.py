"""The Hadoop FileSystem of the Spark session, through its JVM: list, rename, delete.

The jobs use the same client, configuration and credentials as Spark itself, so whatever URL
Spark can read (hdfs://, file://, a cluster's default FS) these operations work on too.

Renames use ``FileContext.rename(src, dst, Options.Rename.NONE)``: it fails when ``dst`` exists,
where ``FileSystem.rename`` would quietly move ``src`` *into* an existing folder. That is what
makes a folder swap safe against a writer that re-created the folder in the meantime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class FsError(RuntimeError):
    """A filesystem operation failed (the message says which and why)."""


@dataclass(frozen=True)
class Entry:
    path: str  # fully qualified: hdfs://namenode:8020/surge/events/dt=.../x.parquet
    name: str
    size: int
    is_dir: bool
    mtime_ms: int


class HadoopFs:
    def __init__(self, spark: SparkSession, url: str):
        self._jvm = spark._jvm
        self._gateway = spark.sparkContext._gateway
        conf = spark._jsc.hadoopConfiguration()
        fs_pkg = self._jvm.org.apache.hadoop.fs
        self._fs = fs_pkg.Path(url).getFileSystem(conf)
        self._fc = fs_pkg.FileContext.getFileContext(self._fs.getUri(), conf)
        self._no_overwrite = self._renames(fs_pkg.Options.Rename.NONE)

    def qualify(self, path: str) -> str:
        """``/surge/events`` -> ``hdfs://namenode:8020/surge/events`` (the default FS's)."""
        return self._fs.makeQualified(self._path(path)).toString()

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def list(self, path: str) -> list[Entry]:
        """The entries of a folder, sorted by name; empty when the folder does not exist."""
        statuses = self._fs.globStatus(self._path(path))  # null when the path does not exist
        if statuses is None or len(statuses) == 0 or not statuses[0].isDirectory():
            return []
        entries = [
            Entry(
                s.getPath().toString(),
                s.getPath().getName(),
                s.getLen(),
                s.isDirectory(),
                s.getModificationTime(),
            )
            for s in self._fs.listStatus(self._path(path))
        ]
        return sorted(entries, key=lambda e: e.name)

    def mkdirs(self, path: str) -> None:
        if not self._fs.mkdirs(self._path(path)):
            raise FsError(f"mkdirs {path} failed")

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``, atomically; fails if ``dst`` exists or ``src`` does not."""
        try:
            self._fc.rename(self._path(src), self._path(dst), self._no_overwrite)
        except Exception as exc:  # py4j's Java exception: FileAlreadyExists, FileNotFound...
            raise FsError(f"rename {src} -> {dst}: {_java_message(exc)}") from exc

    def create_empty(self, path: str) -> bool:
        """Create an empty file; False if the path exists (atomic: a lock or a marker)."""
        try:
            return bool(self._fs.createNewFile(self._path(path)))
        except Exception as exc:  # a parent that is a file, no permission...
            raise FsError(f"create {path}: {_java_message(exc)}") from exc

    def status(self, path: str) -> Entry | None:
        if not self._fs.exists(self._path(path)):
            return None
        s = self._fs.getFileStatus(self._path(path))
        p = s.getPath()
        return Entry(
            p.toString(), p.getName(), s.getLen(), s.isDirectory(), s.getModificationTime()
        )

    def delete(self, path: str, recursive: bool = False) -> None:
        """Delete a path; a missing path is not an error, a non-empty folder (not recursive) is."""
        try:
            self._fs.delete(self._path(path), recursive)
        except Exception as exc:
            raise FsError(f"delete {path}: {_java_message(exc)}") from exc

    def _path(self, path: str):
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def _renames(self, *options):
        array = self._gateway.new_array(self._jvm.org.apache.hadoop.fs.Options.Rename, len(options))
        for i, option in enumerate(options):
            array[i] = option
        return array


def _java_message(exc: Exception) -> str:
    java = getattr(exc, "java_exception", None)
    return str(java.toString()) if java is not None else str(exc)
