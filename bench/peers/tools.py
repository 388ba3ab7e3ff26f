"""What the peer benchmarks share: building the peers, pinning to cores, the stack's lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOCK = Path("/tmp/surge-stack.lock")
# The system under test gets one core; the broker, HDFS and the load generator the others.
SUT_CORE = 1
OTHER_CORES = [c for c in range(os.cpu_count() or 1) if c != SUT_CORE] or [0]


def go_peer(name: str) -> Path:
    """The binary of a Go peer (benthos, vegeta), built from the Go module proxy on first use."""
    done = subprocess.run(
        [str(HERE / "build.sh"), name], check=True, capture_output=True, text=True
    )
    return Path(done.stdout.strip().splitlines()[-1])


def pinned(cmd: list[str]) -> list[str]:
    """``cmd`` on the system-under-test's core."""
    return ["taskset", "-c", str(SUT_CORE), *cmd]


def on_other_cores(cmd: list[str]) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, OTHER_CORES)), *cmd]


@contextlib.contextmanager
def stack_lock(enabled: bool = True) -> Iterator[None]:
    """The shared stack's lock (the same flock(2) as ``flock /tmp/surge-stack.lock``), held
    for one bounded stretch: other people's tests need the stack between them."""
    if not enabled:
        yield
        return
    with LOCK.open("a") as handle:
        started = time.monotonic()
        fcntl.flock(handle, fcntl.LOCK_EX)
        waited = time.monotonic() - started
        if waited > 1:
            print(f"  (waited {waited:.0f} s for the stack's lock)", flush=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def stack_off_the_sut_core(procs: list[psutil.Process]) -> Iterator[None]:
    """Keep the stack's JVMs off the SUT's core while a comparison runs, then give them back
    the cores they had (only inside the stack's lock: the stack is shared)."""
    before = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            before[proc] = proc.cpu_affinity()
            proc.cpu_affinity(OTHER_CORES)
    try:
        yield
    finally:
        for proc, cores in before.items():
            with contextlib.suppress(psutil.Error):
                proc.cpu_affinity(cores)


def shared_stack_jvms(*names: str) -> list[psutil.Process]:
    """The JVMs of the one shared stack (infra/jvm.py marks them -Dsurge.stack=<dir>:<name>),
    whichever clone started it: bench/stack_cpu.py's stack_jvms only knows this clone's."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        for arg in proc.info["cmdline"] or ():
            if arg.startswith("-Dsurge.stack=") and arg.rsplit(":", 1)[-1] in names:
                found.append(proc)
                break
    return found


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU of a process and its children (all threads), from /proc."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s} s")


def stop(proc: subprocess.Popen, timeout_s: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
