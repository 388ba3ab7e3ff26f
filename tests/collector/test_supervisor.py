"""``python -m collector``'s supervisor: a worker killed by a signal is replaced, however soon
after its own start; a worker that fails by itself at start stops the collector."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from chaos.services import listening_children

REPO = Path(__file__).resolve().parents[2]


def _start(port: int, kafka_port: int, log_path: Path) -> subprocess.Popen:
    env = os.environ | {
        "SURGE_COLLECTOR_PORT": str(port),
        "SURGE_COLLECTOR_WORKERS": "2",
        "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",  # nobody listens
        "SURGE_COLLECTOR_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "collector"], cwd=REPO, env=env, stdout=log, stderr=log
        )


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


def test_a_worker_killed_is_replaced_even_just_after_its_start(free_port, tmp_path):
    port, log_path = free_port(), tmp_path / "collector.log"
    proc = _start(port, free_port(), log_path)
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


def test_a_worker_that_fails_at_start_stops_the_collector(free_port, tmp_path):
    port, log_path = free_port(), tmp_path / "collector.log"
    with socket.socket() as taken:  # no SO_REUSEPORT: the workers cannot bind beside it
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = _start(port, free_port(), log_path)
        try:
            code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code != 0
    assert "worker failed at start" in log_path.read_text()
