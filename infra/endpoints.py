"""Where the services of a running stack answer: what tests and tools need to reach them."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass

from infra import hdfs, kafka
from infra.settings import StackSettings


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    webhdfs_url: str  # http://namenode:9870, for the `hdfs` package
    hdfs_default_fs: str  # hdfs://namenode:8020, for Spark and other Hadoop clients
    hdfs_user: str

    @classmethod
    def of_local(cls, settings: StackSettings) -> Endpoints:
        return cls(
            kafka_bootstrap=kafka.bootstrap(settings),
            webhdfs_url=hdfs.webhdfs_url(settings),
            hdfs_default_fs=hdfs.default_fs(settings),
            hdfs_user=settings.hdfs_user,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Endpoints | None:
        """An external stack named by SURGE_KAFKA_BOOTSTRAP and SURGE_HDFS_URL, if both are set.

        SURGE_HDFS_DEFAULT_FS defaults to port 8020 on the WebHDFS host.
        """
        bootstrap, url = environ.get("SURGE_KAFKA_BOOTSTRAP"), environ.get("SURGE_HDFS_URL")
        if not (bootstrap and url):
            return None
        host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        return cls(
            kafka_bootstrap=bootstrap,
            webhdfs_url=url.rstrip("/"),
            hdfs_default_fs=environ.get("SURGE_HDFS_DEFAULT_FS", f"hdfs://{host}:8020"),
            hdfs_user=environ.get("SURGE_HDFS_USER") or getpass.getuser(),
        )
