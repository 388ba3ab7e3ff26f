"""Every knob of the local stack, typed and in one place.

Each field can be overridden by the environment variable ``SURGE_`` + its name in upper case
(``kafka_port`` -> ``SURGE_KAFKA_PORT``). Defaults suit a 2-core laptop that runs the broker,
the NameNode, the DataNode, Spark and Python at once: small heaps, loopback only.
"""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SURGE_", frozen=True)

    stack_dir: Path = Field(
        REPO_ROOT / ".stack",
        description="Config, data, logs and pid files of the running stack.",
    )
    jar_cache: Path = Field(
        Path.home() / ".cache" / "surge" / "jars",
        description="Jars resolved from Maven Central, shared by every clone on the machine.",
    )
    host: str = Field("127.0.0.1", description="Address every service binds and registers.")

    kafka_port: int = Field(9092, description="Kafka client listener.")
    kafka_controller_port: int = Field(9093, description="KRaft controller listener.")
    kafka_heap: str = Field("512m", description="Broker JVM heap (-Xmx).")
    topic_partitions: int = Field(6, ge=1, description="Partitions of the surge topics.")

    namenode_port: int = Field(8020, description="NameNode RPC (hdfs://).")
    namenode_http_port: int = Field(9870, description="NameNode web UI and WebHDFS.")
    datanode_port: int = Field(9866, description="DataNode block transfer.")
    datanode_http_port: int = Field(9864, description="DataNode HTTP (WebHDFS data).")
    datanode_ipc_port: int = Field(9867, description="DataNode IPC.")
    namenode_heap: str = Field("384m", description="NameNode JVM heap (-Xmx).")
    datanode_heap: str = Field("256m", description="DataNode JVM heap (-Xmx).")
    hdfs_user: str = Field(
        default_factory=getpass.getuser,
        description="HDFS user of clients; the user who starts the NameNode is its superuser.",
    )

    java_home: Path | None = Field(None, description="JDK to run; default: `java` on PATH.")
    start_timeout_s: float = Field(90.0, description="Give up waiting for health after this.")

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that overrides ``field``, for error messages."""
        return f"SURGE_{field.upper()}"
