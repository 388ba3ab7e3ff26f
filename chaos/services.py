"""The collector and the landers of one scenario, as real processes (``python -m collector``,
``python -m stream``) with their own topic, root and group; their logs go to the run's folder.

A process is stopped the way the scenario says: SIGTERM (graceful) or SIGKILL (a crash).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from chaos.settings import REPO_ROOT, ChaosSettings
from infra.endpoints import Endpoints


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening_children(pid: int) -> set[int]:
    """The children of ``pid`` that listen on a TCP port: a collector's serving workers."""
    found = set()
    for child in psutil.Process(pid).children():
        try:
            if any(c.status == psutil.CONN_LISTEN for c in child.net_connections("tcp")):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def get(url: str, path: str, timeout_s: float = 2.0) -> int | None:
    """The status of a GET, or None when nothing answers."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


@dataclass
class Namespace:
    """What one scenario owns on the stack: nothing of another scenario's."""

    scenario: str
    run_id: str
    hdfs_prefix: str

    @property
    def topic(self) -> str:
        return f"chaos.{self.scenario}.{self.run_id}"

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    @property
    def group(self) -> str:
        return f"chaos-{self.scenario}-{self.run_id}"

    @property
    def root(self) -> str:
        return f"{self.hdfs_prefix}/{self.run_id}/{self.scenario}/events"


@dataclass
class Services:
    endpoints: Endpoints
    settings: ChaosSettings
    space: Namespace
    log_dir: Path
    port: int = field(default_factory=free_port)
    collector: subprocess.Popen | None = None
    landers: list[subprocess.Popen] = field(default_factory=list)
    _started: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, module: str, env: dict[str, str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._started += 1
        log = (self.log_dir / f"{self._started:02d}-{module}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO_ROOT,
            env=os.environ | env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        return proc

    # -- the collector -----------------------------------------------------------------------

    def start_collector(self, wait_ready_s: float = 60, workers: int = 1) -> subprocess.Popen:
        """One worker unless a scenario needs more: the machine has two cores for everything."""
        env = {
            "SURGE_COLLECTOR_PORT": str(self.port),
            "SURGE_COLLECTOR_WORKERS": str(workers),
            "SURGE_COLLECTOR_KAFKA_BOOTSTRAP": self.endpoints.kafka_bootstrap,
            "SURGE_COLLECTOR_TOPIC": self.space.topic,
            "SURGE_COLLECTOR_DLQ_TOPIC": self.space.dlq_topic,
        }
        self.collector = self._spawn("collector", env)
        if wait_ready_s:
            self.wait_ready(wait_ready_s)
        return self.collector

    def wait_ready(self, timeout_s: float) -> float:
        """Seconds until /readyz says 200."""
        started = time.monotonic()
        while get(self.url, "/readyz") != 200:
            if self.collector is not None and self.collector.poll() is not None:
                raise RuntimeError(f"collector exited:\n{tail(self.collector)}")
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"collector not ready after {timeout_s:.0f} s")
            time.sleep(0.1)
        return time.monotonic() - started

    # -- landers -----------------------------------------------------------------------------

    def start_lander(self, **overrides: object) -> subprocess.Popen:
        s, space = self.settings, self.space
        values = {
            "bootstrap": self.endpoints.kafka_bootstrap,
            "group": space.group,
            "topic": space.topic,
            "dlq_topic": space.dlq_topic,
            "storage_url": self.endpoints.webhdfs_url,
            "hdfs_user": self.endpoints.hdfs_user,
            "root": space.root,
            "rotate_age_s": s.lander_rotate_age_s,
            "session_timeout_ms": s.lander_session_timeout_ms,
            "backoff_max_s": s.lander_backoff_max_s,
            "metrics_port": 0,
            **overrides,
        }
        lander = self._spawn(
            "stream", {f"SURGE_LANDER_{k.upper()}": str(v) for k, v in values.items()}
        )
        self.landers.append(lander)
        return lander

    def live_landers(self) -> list[subprocess.Popen]:
        return [p for p in self.landers if p.poll() is None]

    # -- stopping ----------------------------------------------------------------------------

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """SIGKILL: a crash, nothing flushed."""
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    @staticmethod
    def terminate(proc: subprocess.Popen, timeout_s: float = 60) -> int:
        """SIGTERM, then the exit code (SIGKILL if it does not come in time)."""
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            return -9

    def stop_all(self) -> dict[str, int]:
        """SIGTERM whatever still runs; their exit codes."""
        codes = {}
        for i, proc in enumerate(self.landers):
            if proc.poll() is None:
                codes[f"lander-{i}"] = self.terminate(proc)
        if self.collector is not None and self.collector.poll() is None:
            codes["collector"] = self.terminate(self.collector)
        return codes


def tail(proc: subprocess.Popen, chars: int = 3000) -> str:
    path = getattr(proc, "log_path", None)
    return Path(path).read_text(errors="replace")[-chars:] if path else ""


def log_text(proc: subprocess.Popen) -> str:
    return tail(proc, 10**9)
