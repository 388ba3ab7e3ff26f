"""The workers run on uvloop, a dependency wherever it builds, and /metrics says which loop runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from collector.metrics import event_loop_name

needs_uvloop = pytest.mark.skipif(sys.platform == "win32", reason="uvloop builds on no Windows")


def test_event_loop_name_tells_the_two_loops_apart():
    loop = asyncio.new_event_loop()
    try:
        assert event_loop_name(loop) == "asyncio"
    finally:
        loop.close()


@needs_uvloop
def test_uvloop_is_installed_with_the_project():
    import uvloop

    loop = uvloop.new_event_loop()
    try:
        assert event_loop_name(loop) == "uvloop"
    finally:
        loop.close()


@needs_uvloop
def test_the_workers_serve_on_uvloop_and_metrics_say_so(free_port, spawn_collector):
    """``python -m collector`` as deployed (two workers); Kafka need not be up for /metrics."""
    port = free_port()
    proc, log_path = spawn_collector(port)
    try:
        text = _metrics_when_up(f"http://127.0.0.1:{port}/metrics", proc, log_path)
    finally:
        proc.terminate()
        proc.wait(30)
    assert 'surge_collector_event_loop_info{loop="uvloop"} 1.0' in text
    assert 'loop="asyncio"' not in text


def _metrics_when_up(url: str, proc: subprocess.Popen, log_path: Path) -> str:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log_path.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
            if "surge_collector_event_loop_info" in text:
                return text
        except OSError:
            pass
        assert time.monotonic() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.2)
