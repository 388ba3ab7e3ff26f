"""Fault injection for the crash tests: SIGKILL this process at an exact point of a publish.

Points, in the order a publish reaches them:
    added            rows were buffered (a crash loses only buffers)
    temp_written     every temp file of a rotation is written, nothing logged
    wal_written      the renames are logged, none done
    between_renames  after one rename of a rotation that publishes several files
    renamed          every file renamed, the log not yet truncated

`SURGE_LANDER_CRASH_AT=point[:n]` kills at the n-th time the point is reached (default 1).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)
POINTS = ("added", "temp_written", "wal_written", "between_renames", "renamed")

Checkpoint = Callable[[str], None]


def no_faults(point: str) -> None:
    pass


def crash_at(spec: str) -> Checkpoint:
    """A checkpoint that SIGKILLs the process as `spec` says; a no-op for an empty spec."""
    if not spec:
        return no_faults
    point, _, nth = spec.partition(":")
    if point not in POINTS:
        raise ValueError(f"unknown crash point {point!r}; known: {', '.join(POINTS)}")
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
