"""Test doubles of the lander: storage in memory with injectable failures, crashes at the
fault points of a publish."""

from __future__ import annotations

import logging
import os
import posixpath
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from stream.partition_writer import FAULT_POINTS, FaultHook, no_fault
from stream.storage import StorageError

log = logging.getLogger(__name__)


@dataclass
class Fault:
    """Make `op` fail `times` times on paths containing `match`; `after`: do it, then fail."""

    op: str
    times: int = 1
    match: str = ""
    after: bool = False  # the operation happens but the caller hears an error (a lost answer)


@dataclass
class MemoryStorage:
    """Files in a dict, folders implied by paths; failures injected with `fail(...)`."""

    files: dict[str, bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {"/"})
    faults: list[Fault] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    on_call: Callable[[str, str], None] | None = None  # e.g. to crash at an exact call
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, op: str, times: int = 1, match: str = "", after: bool = False) -> None:
        self.faults.append(Fault(op, times, match, after))

    def _fault(self, op: str, path: str) -> Fault | None:
        self.calls.append((op, path))
        if self.on_call is not None:
            self.on_call(op, path)
        for fault in self.faults:
            if fault.op == op and fault.match in path and fault.times > 0:
                fault.times -= 1
                if not fault.after:
                    raise StorageError(f"injected: {op} {path}")
                return fault
        return None

    def _done(self, fault: Fault | None, op: str, path: str) -> None:
        if fault is not None:
            raise StorageError(f"injected after success: {op} {path}")

    def _add_dirs(self, path: str) -> None:
        while path not in ("/", ""):
            self.dirs.add(path)
            path = posixpath.dirname(path)

    def write(self, path: str, data: bytes) -> None:
        with self._lock:
            fault = self._fault("write", path)
            self._add_dirs(posixpath.dirname(path))
            self.files[path] = bytes(data)
            self._done(fault, "write", path)

    def read(self, path: str) -> bytes | None:
        with self._lock:
            self._done(self._fault("read", path), "read", path)
            return self.files.get(path)

    def rename(self, src: str, dst: str) -> None:
        with self._lock:
            fault = self._fault("rename", f"{src} -> {dst}")
            if src not in self.files or dst in self.files or dst in self.dirs:
                raise StorageError(f"rename {src} -> {dst}: refused")
            if posixpath.dirname(dst) not in self.dirs:
                raise StorageError(f"rename {src} -> {dst}: no parent folder")
            self.files[dst] = self.files.pop(src)
            self._done(fault, "rename", f"{src} -> {dst}")

    def exists(self, path: str) -> bool:
        with self._lock:
            self._done(self._fault("exists", path), "exists", path)
            return path in self.files or path in self.dirs

    def list(self, path: str) -> list[str]:
        with self._lock:
            self._done(self._fault("list", path), "list", path)
            prefix = path.rstrip("/") + "/"
            children = {
                p[len(prefix) :].split("/", 1)[0]
                for p in (*self.files, *self.dirs)
                if p.startswith(prefix)
            }
            return sorted(children)

    def delete(self, path: str, recursive: bool = False) -> None:
        with self._lock:
            self._done(self._fault("delete", path), "delete", path)
            prefix = path.rstrip("/") + "/"
            inside = [p for p in (*self.files, *self.dirs) if p.startswith(prefix)]
            if inside and not recursive:
                raise StorageError(f"delete {path}: folder not empty")
            for p in inside:
                self.files.pop(p, None)
                self.dirs.discard(p)
            self.files.pop(path, None)
            self.dirs.discard(path)

    def mkdirs(self, path: str) -> None:
        with self._lock:
            self._done(self._fault("mkdirs", path), "mkdirs", path)
            self._add_dirs(path)


def crash_at(spec: str) -> FaultHook:
    """A checkpoint that SIGKILLs the process as `spec` says; a no-op for an empty spec."""
    if not spec:
        return no_fault
    point, _, nth = spec.partition(":")
    if point not in FAULT_POINTS:
        raise ValueError(f"unknown crash point {point!r}; known: {', '.join(FAULT_POINTS)}")
    remaining = int(nth or 1)

    def checkpoint(reached: str) -> None:
        nonlocal remaining
        if reached != point:
            return
        remaining -= 1
        if remaining == 0:
            log.warning("fault injection: SIGKILL at %s", point)
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint
