"""Where files land, behind one small interface.

- `HdfsStorage`: HDFS through WebHDFS (the `hdfs` package), the default.
- `NativeHdfsStorage`: HDFS through its RPC protocol (`hdfs-native`, optional).
- `LocalStorage`: a local folder (`file:///path`), for development without HDFS.

(The in-memory fake with injectable failures is in tests/stream/doubles.py.)

Every operation either does what it says or raises `StorageError`: the partition writer keeps
its state on a `StorageError` and retries the step later. `rename` never overwrites and raises
when nothing was renamed, so a publish can tell a done rename from a failed one.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse


class StorageError(Exception):
    """An operation failed or its result is unknown; the caller may retry it."""


class Storage(Protocol):
    def write(self, path: str, data: bytes) -> None:
        """Create or replace the file at `path` with `data`, creating parent folders."""

    def read(self, path: str) -> bytes | None:
        """The whole file (meant for small ones), or None if there is none."""

    def rename(self, src: str, dst: str) -> None:
        """Move the file `src` to `dst`, whose folder exists; raise if `dst` exists."""

    def exists(self, path: str) -> bool: ...

    def list(self, path: str) -> list[str]:
        """Names (not paths) in the folder `path`, sorted; [] if there is no such folder."""

    def delete(self, path: str, recursive: bool = False) -> None:
        """Remove a file or folder; nothing if it does not exist."""

    def mkdirs(self, path: str) -> None:
        """Create the folder `path` and its parents; nothing if it exists."""


def open_storage(url: str, user: str | None = None, timeout_s: float = 30.0) -> Storage:
    """The storage for a URL: http(s)://, webhdfs://, hdfs:// or file://."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https", "webhdfs"):
        scheme = "https" if parsed.scheme == "https" else "http"
        return HdfsStorage(f"{scheme}://{parsed.netloc}", user, timeout_s)
    if parsed.scheme == "hdfs":
        return NativeHdfsStorage(url, user)
    if parsed.scheme == "file":
        return LocalStorage(Path(parsed.path or "/"))
    raise ValueError(f"unsupported storage URL {url!r}: use http://, hdfs:// or file://")


class HdfsStorage:
    """HDFS over WebHDFS: plain HTTP to the NameNode, data redirected to a DataNode."""

    def __init__(self, url: str, user: str | None = None, timeout_s: float = 30.0):
        from hdfs import InsecureClient

        self.url = url
        self._client = InsecureClient(url, user=user, timeout=timeout_s)

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from hdfs import HdfsError
        from requests import RequestException

        try:
            yield
        except (HdfsError, RequestException, OSError) as exc:
            raise StorageError(f"{what}: {exc}") from exc

    def write(self, path: str, data: bytes) -> None:
        with self._errors(f"write {path}"):
            self._client.write(path, data=data, overwrite=True)

    def read(self, path: str) -> bytes | None:
        if not self.exists(path):
            return None
        with self._errors(f"read {path}"), self._client.read(path) as reader:
            return reader.read()

    def rename(self, src: str, dst: str) -> None:
        # WebHDFS moves `src` *into* `dst` when `dst` is a folder: final names are never folders.
        with self._errors(f"rename {src} -> {dst}"):
            self._client.rename(src, dst)  # raises HdfsError when the NameNode says false

    def exists(self, path: str) -> bool:
        with self._errors(f"status {path}"):
            return self._client.status(path, strict=False) is not None

    def list(self, path: str) -> list[str]:
        with self._errors(f"list {path}"):
            if self._client.status(path, strict=False) is None:
                return []
            return sorted(self._client.list(path))

    def delete(self, path: str, recursive: bool = False) -> None:
        with self._errors(f"delete {path}"):
            self._client.delete(path, recursive=recursive)

    def mkdirs(self, path: str) -> None:
        with self._errors(f"mkdirs {path}"):
            self._client.makedirs(path)


class NativeHdfsStorage:
    """HDFS over its native RPC protocol (`hdfs-native`, a Rust client): no HTTP hop per call."""

    def __init__(self, url: str, user: str | None = None):
        if user:  # hdfs-native takes the simple-auth user from the environment, as Hadoop does
            os.environ.setdefault("HADOOP_USER_NAME", user)
        from hdfs_native import Client

        self.url = url
        self._client = Client(url)

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            raise
        except Exception as exc:  # the Rust client raises several unrelated types
            raise StorageError(f"{what}: {exc}") from exc

    def write(self, path: str, data: bytes) -> None:
        from hdfs_native import WriteOptions

        with self._errors(f"write {path}"):
            options = WriteOptions(overwrite=True, create_parent=True)
            with self._client.create(path, options) as writer:
                writer.write(data)

    def read(self, path: str) -> bytes | None:
        try:
            with self._errors(f"read {path}"), self._client.read(path) as reader:
                return reader.readall()
        except FileNotFoundError:
            return None

    def rename(self, src: str, dst: str) -> None:
        with self._errors(f"rename {src} -> {dst}"):
            try:
                self._client.rename(src, dst, overwrite=False)
            except FileNotFoundError as exc:
                raise StorageError(f"rename {src} -> {dst}: {exc}") from exc

    def exists(self, path: str) -> bool:
        try:
            with self._errors(f"status {path}"):
                self._client.get_file_info(path)
        except FileNotFoundError:
            return False
        return True

    def list(self, path: str) -> list[str]:
        try:
            with self._errors(f"list {path}"):
                return sorted(posixpath.basename(s.path) for s in self._client.list_status(path))
        except FileNotFoundError:
            return []

    def delete(self, path: str, recursive: bool = False) -> None:
        try:
            with self._errors(f"delete {path}"):
                self._client.delete(path, recursive)
        except FileNotFoundError:
            pass

    def mkdirs(self, path: str) -> None:
        with self._errors(f"mkdirs {path}"):
            self._client.mkdirs(path, create_parent=True)


class LocalStorage:
    """A local folder standing for the HDFS root: HDFS path /a/b is <base>/a/b."""

    def __init__(self, base: Path):
        self.base = base

    def _local(self, path: str) -> Path:
        return self.base / path.lstrip("/")

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise StorageError(f"{what}: {exc}") from exc

    def write(self, path: str, data: bytes) -> None:
        target = self._local(path)
        with self._errors(f"write {path}"):
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())  # durable before a rename can publish it

    def read(self, path: str) -> bytes | None:
        with self._errors(f"read {path}"):
            try:
                return self._local(path).read_bytes()
            except FileNotFoundError:
                return None

    def rename(self, src: str, dst: str) -> None:
        # link + unlink: unlike os.rename, link refuses to replace an existing file.
        with self._errors(f"rename {src} -> {dst}"):
            os.link(self._local(src), self._local(dst))
            os.unlink(self._local(src))

    def exists(self, path: str) -> bool:
        return self._local(path).exists()

    def list(self, path: str) -> list[str]:
        folder = self._local(path)
        with self._errors(f"list {path}"):
            return sorted(os.listdir(folder)) if folder.is_dir() else []

    def delete(self, path: str, recursive: bool = False) -> None:
        import shutil

        target = self._local(path)
        with self._errors(f"delete {path}"):
            if target.is_dir():
                shutil.rmtree(target) if recursive else target.rmdir()
            else:
                target.unlink(missing_ok=True)

    def mkdirs(self, path: str) -> None:
        with self._errors(f"mkdirs {path}"):
            self._local(path).mkdir(parents=True, exist_ok=True)
