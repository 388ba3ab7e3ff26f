"""``python -m collector``'s supervisor: a worker killed by a signal is replaced, however soon
after its own start; a worker that fails by itself at start stops the collector."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil

from chaos.services import listening_children


def _until(what, timeout_s: float, proc: subprocess.Popen, log_path: Path):
    deadline = time.monotonic() + timeout_s
    while not (value := what()):
        assert proc.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.1)
    return value


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_a_worker_killed_is_replaced_even_just_after_its_start(free_port, spawn_collector):
    port = free_port()
    proc, log_path = spawn_collector(port)
    try:
        first = _until(
            lambda: len(w := listening_children(proc.pid)) == 2 and w, 30, proc, log_path
        )
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        second = _until(
            lambda: len(w := listening_children(proc.pid) - first) == 1 and w, 30, proc, log_path
        )
        # Killed again within the supervisor's failed-start window: a signal is no failed start.
        (young,) = second
        assert time.time() - psutil.Process(young).create_time() < 3.0
        os.kill(young, signal.SIGKILL)
        _until(
            lambda: len(w := listening_children(proc.pid)) == 2 and not w & {victim, young},
            30,
            proc,
            log_path,
        )
        assert _until(lambda: _healthy(port), 10, proc, log_path)
        assert "worker died, restarting" in log_path.read_text()
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_a_worker_that_fails_at_start_stops_the_collector(free_port, spawn_collector):
    port = free_port()
    with socket.socket() as taken:  # no SO_REUSEPORT: the workers cannot bind beside it
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc, log_path = spawn_collector(port)
        code = proc.wait(60)
    assert code != 0
    assert "worker failed at start" in log_path.read_text()
