"""A single Kafka node in KRaft combined mode (broker + controller in one JVM)."""

from __future__ import annotations

import asyncio
import base64
import socket
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from infra.jvm import JvmSpec
from infra.settings import StackSettings

NAME = "kafka"
TOPICS = ("surge.events", "surge.events.dlq")

LOG4J2 = """\
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
# The state-change and request loggers are chatty at INFO.
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def data_dir(settings: StackSettings) -> Path:
    return settings.stack_dir / "kafka" / "data"


def bootstrap(settings: StackSettings) -> str:
    return f"{settings.host}:{settings.kafka_port}"


def write_config(settings: StackSettings) -> Path:
    """Write server.properties and the log config; rewritten on every start from settings."""
    conf = settings.stack_dir / "conf" / "kafka"
    conf.mkdir(parents=True, exist_ok=True)
    host = settings.host
    controller = f"{host}:{settings.kafka_controller_port}"
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": controller,
        "listeners": f"PLAINTEXT://{bootstrap(settings)},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{bootstrap(settings)}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir(settings)),
        "num.partitions": str(settings.topic_partitions),
        # One node: every internal topic has a single replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Topics are created by the launcher with the intended partition count, never by accident.
        "auto.create.topics.enable": "false",
        # No reason to delay the first consumer group rebalance on a dev/test stack.
        "group.initial.rebalance.delay.ms": "0",
    }
    (conf / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
    (conf / "log4j2.properties").write_text(LOG4J2)
    return conf


def _jvm(settings: StackSettings, classpath: str, main: str, *args: str) -> JvmSpec:
    conf = settings.stack_dir / "conf" / "kafka"
    return JvmSpec(
        name=NAME,
        main_class=main,
        classpath=classpath,
        heap=settings.kafka_heap,
        args=args,
        system_properties=(f"log4j2.configurationFile={conf / 'log4j2.properties'}",),
    )


def format_spec(settings: StackSettings, classpath: str) -> JvmSpec | None:
    """The storage-format command, or None when the log dir is already formatted."""
    if (data_dir(settings) / "meta.properties").exists():
        return None
    conf = settings.stack_dir / "conf" / "kafka" / "server.properties"
    return _jvm(
        settings,
        classpath,
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "-t",
        new_cluster_id(),
        "-c",
        str(conf),
    )


def new_cluster_id() -> str:
    """A random cluster id the way Kafka makes one (``Uuid.randomUuid``): URL-safe base64 of 16
    random bytes, drawn again when it starts with '-'. One in 64 does, and the format tool's
    argument parser takes such a value for an option ("argument --cluster-id/-t: expected one
    argument"): a fresh stack failed to start that way."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def server_spec(settings: StackSettings, classpath: str) -> JvmSpec:
    conf = settings.stack_dir / "conf" / "kafka" / "server.properties"
    return _jvm(settings, classpath, "kafka.Kafka", str(conf))


async def ensure_topics(bootstrap_servers: str, partitions: int) -> list[str]:
    """Create the surge topics that are missing. Raises KafkaError while the broker is not up."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    await admin.start()
    try:
        missing = [t for t in TOPICS if t not in await admin.list_topics()]
        if missing:
            await admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
        return missing
    finally:
        await admin.close()


def try_ensure_topics(bootstrap_servers: str, partitions: int) -> bool:
    """One health probe: the broker answers metadata and the topics exist."""
    host, port = bootstrap_servers.split(",")[0].rsplit(":", 1)
    try:
        # A plain connect first: the admin client logs an error for every refused connection.
        socket.create_connection((host, int(port)), timeout=2).close()
        asyncio.run(ensure_topics(bootstrap_servers, partitions))
    except (KafkaError, OSError):
        return False
    return True
