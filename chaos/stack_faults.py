"""Faults of the stack itself: its JVMs killed, stopped and started again (only the processes
of this stack, by the pids its pid files name and its mark on their command line: see
infra/jvm.py), and HDFS told to refuse writes to a folder (a namespace quota, set through
WebHDFS as an operator would with ``hdfs dfsadmin -setQuota``).

Whatever a scenario stops, ``restore()`` starts again: the stack is left healthy.
"""

from __future__ import annotations

import time

import psutil
import requests

from infra.endpoints import Endpoints
from infra.jvm import JvmProcesses
from infra.settings import StackSettings
from infra.stack import LocalStack

KAFKA, NAMENODE, DATANODE = "kafka", "namenode", "datanode"


class StackFaults:
    def __init__(self, settings: StackSettings | None = None):
        self.settings = settings or StackSettings()
        self.jvms = JvmProcesses(self.settings.stack_dir)

    def ours(self, endpoints: Endpoints) -> bool:
        """The stack behind ``endpoints`` is this stack dir's, with all its JVMs running: ours
        to kill and start again (never an external or Docker stack)."""
        local = LocalStack(self.settings)
        return local.endpoints == endpoints and all(
            self.jvms.running(name) is not None for name in (KAFKA, NAMENODE, DATANODE)
        )

    def sigkill(self, name: str) -> int:
        """SIGKILL the service's JVM (a crash); its pid."""
        proc = self.jvms.running(name)
        if proc is None:
            raise RuntimeError(f"{name} is not running: nothing to kill")
        proc.kill()
        psutil.wait_procs([proc], timeout=10)
        return proc.pid

    def stop(self, name: str) -> None:
        """SIGTERM, as an operator stops it (SIGKILL after the grace period)."""
        self.jvms.stop([name])

    def restore(self) -> float:
        """Start whatever of the stack is not running and wait until it is healthy; seconds."""
        started = time.monotonic()
        LocalStack(self.settings).up()
        return time.monotonic() - started


class HdfsQuota:
    """A namespace quota on one folder: HDFS then refuses to create anything more in it (new
    files, renames into it, sub-folders), with an NSQuotaExceededException, to every user."""

    def __init__(self, endpoints: Endpoints):
        self.base = f"{endpoints.webhdfs_url}/webhdfs/v1"
        self.user = endpoints.hdfs_user

    def _put(self, path: str, **params: object) -> None:
        answer = requests.put(
            f"{self.base}{path}", params={"user.name": self.user, **params}, timeout=30
        )
        answer.raise_for_status()

    def usage(self, path: str) -> dict:
        answer = requests.get(
            f"{self.base}{path}", params={"op": "GETQUOTAUSAGE", "user.name": self.user}, timeout=30
        )
        answer.raise_for_status()
        return answer.json()["QuotaUsage"]

    def freeze(self, path: str) -> int:
        """Allow no more entries than the folder holds now; that count."""
        count = self.usage(path)["fileAndDirectoryCount"]
        self._put(path, op="SETQUOTA", namespacequota=count)
        return count

    def clear(self, path: str) -> None:
        self._put(path, op="SETQUOTA", namespacequota=-1)  # -1: HDFS's "reset the quota"
