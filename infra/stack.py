"""The local stack: a KRaft Kafka node, an HDFS NameNode and a DataNode, as plain JVMs.

``up`` fetches the jars once, formats storage on first start only, starts what is not already
running and waits until every service is healthy; ``down`` stops exactly what ``up`` started.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from infra import hdfs, jars, kafka
from infra.endpoints import Endpoints
from infra.errors import StackError
from infra.jvm import JvmProcesses, JvmSpec, check_port_free
from infra.settings import StackSettings

# Start order; stopped all at once.
SERVICES = (hdfs.NAMENODE, hdfs.DATANODE, kafka.NAME)

# Ports each service binds, as (settings field, what it is).
PORTS = {
    kafka.NAME: (("kafka_port", "Kafka"), ("kafka_controller_port", "KRaft controller")),
    hdfs.NAMENODE: (("namenode_port", "NameNode RPC"), ("namenode_http_port", "NameNode HTTP")),
    hdfs.DATANODE: (
        ("datanode_port", "DataNode data"),
        ("datanode_http_port", "DataNode HTTP"),
        ("datanode_ipc_port", "DataNode IPC"),
    ),
}


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    log: str


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class LocalStack:
    def __init__(self, settings: StackSettings | None = None):
        self.settings = settings or StackSettings()
        self.endpoints = Endpoints.of_local(self.settings)
        self.jvms = JvmProcesses(self.settings.stack_dir, self.settings.java_home)

    def is_healthy(self) -> bool:
        return not unhealthy(self.endpoints, self.settings.topic_partitions)

    def up(self) -> Endpoints:
        missing = [name for name in SERVICES if self.jvms.running(name) is None]
        started = self._start(missing) if missing else {}
        wait_healthy(self.endpoints, self.settings, lambda: check_alive(started, self.jvms))
        _say(
            f"stack up: kafka {self.endpoints.kafka_bootstrap}, "
            f"hdfs {self.endpoints.hdfs_default_fs} (WebHDFS {self.endpoints.webhdfs_url}); "
            f"logs in {self.jvms.log_dir}"
        )
        return self.endpoints

    def down(self) -> list[str]:
        stopped = self.jvms.stop(list(SERVICES))
        _say(f"stopped: {', '.join(stopped)}" if stopped else "nothing of the stack was running")
        return stopped

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(
                name,
                proc.pid if (proc := self.jvms.running(name)) else None,
                str(self.jvms.log_path(name)),
            )
            for name in SERVICES
        ]

    def _start(self, names: list[str]) -> dict[str, subprocess.Popen]:
        settings = self.settings
        self.jvms.java  # noqa: B018 -- fail fast on a missing or old Java, before any download
        for name in names:
            for field, what in PORTS[name]:
                check_port_free(
                    settings.host, getattr(settings, field), what, StackSettings.env_name(field)
                )
        started = {}
        for spec in self._specs(names):
            started[spec.name] = self.jvms.start(spec)
            _say(f"started {spec.name} (log {self.jvms.log_path(spec.name)})")
        return started

    def _specs(self, names: list[str]) -> list[JvmSpec]:
        """Configs written, storage formatted where new, and the JVMs to start for ``names``."""
        settings, specs = self.settings, []
        if hdfs.NAMENODE in names or hdfs.DATANODE in names:
            classpath = jars.classpath(settings.jar_cache, "hadoop")
            hdfs.write_config(settings)
            if hdfs.NAMENODE in names:
                self._format(hdfs.format_spec(settings, classpath))
                specs.append(hdfs.namenode_spec(settings, classpath))
            if hdfs.DATANODE in names:
                specs.append(hdfs.datanode_spec(settings, classpath))
        if kafka.NAME in names:
            classpath = jars.classpath(settings.jar_cache, "kafka")
            kafka.write_config(settings)
            self._format(kafka.format_spec(settings, classpath))
            specs.append(kafka.server_spec(settings, classpath))
        return specs

    def _format(self, spec: JvmSpec | None) -> None:
        if spec is not None:
            _say(f"formatting {spec.name} storage (first start only) ...")
            self.jvms.run(spec)


def check_alive(started: dict[str, subprocess.Popen], jvms: JvmProcesses) -> None:
    """A JVM that died will never become healthy: say why, now. Asked of the child process
    itself (its exit status), not of the pid file and /proc: that read once said a starting
    Kafka was gone while it ran on, and the stack then failed and left it running."""
    for name, proc in started.items():
        if proc.poll() is not None:
            raise StackError(
                f"{name} exited while starting (exit {proc.returncode}):\n{jvms.log_tail(name)}"
            )


def unhealthy(endpoints: Endpoints, partitions: int) -> list[str]:
    """The services that fail their health probe (HDFS, then Kafka, which gets its topics)."""
    failing = [] if hdfs.is_healthy(endpoints.webhdfs_url) else ["hdfs"]
    if not kafka.try_ensure_topics(endpoints.kafka_bootstrap, partitions):
        failing.append("kafka")
    return failing


def wait_healthy(
    endpoints: Endpoints, settings: StackSettings, check_alive: Callable[[], None] = lambda: None
) -> None:
    deadline = time.monotonic() + settings.start_timeout_s
    while failing := unhealthy(endpoints, settings.topic_partitions):
        check_alive()
        if time.monotonic() > deadline:
            raise StackError(
                f"{' and '.join(failing)} not healthy after {settings.start_timeout_s:.0f} s "
                f"(raise SURGE_START_TIMEOUT_S if the machine is slow)"
            )
        time.sleep(0.5)
