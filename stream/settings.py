"""Every knob of the lander, typed and in one place.

Each field can be overridden by the environment variable ``SURGE_LANDER_`` + its name in upper
case (``rotate_age_s`` -> ``SURGE_LANDER_ROTATE_AGE_S``). Tests build settings objects directly.

Rotation defaults balance two promises: an event is visible on HDFS within about a minute
(``rotate_age_s`` plus the time to write and rename), and files are not tiny (a busy partition
rotates on ``rotate_bytes`` long before the age limit; quiet partitions make small files that
the batch compaction job merges).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.layout import TOPIC

MIB = 1024 * 1024


class LanderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SURGE_LANDER_", frozen=True)

    # Kafka
    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    group: str = Field("surge-lander", description="Consumer group; processes share partitions.")
    topic: str = Field(
        "surge.events",
        pattern=rf"^{TOPIC.pattern}$",  # it names the landed files (schemas/layout.py)
        description="Topic of enriched events to land; not starting with `_`, `.` or `-`.",
    )
    dlq_topic: str = Field(
        "surge.events.dlq", description="Where records that cannot be decoded or mapped go."
    )
    session_timeout_ms: int = Field(
        10_000, ge=1000, description="Group session: how soon a dead lander's partitions move."
    )
    max_poll_interval_ms: int = Field(
        300_000, description="A lander that polls less often than this leaves the group."
    )
    # Larger polls amortize the native read's per-poll cost (bench/bench_lander.py's docstring
    # has the poll sizes compared).
    max_poll_records: int = Field(20_000, ge=1, description="Records per poll, all partitions.")
    fetch_partition_bytes: int = Field(
        4 * MIB, description="Largest fetch per partition (aiokafka max_partition_fetch_bytes)."
    )

    # Storage
    storage_url: str = Field(
        "http://127.0.0.1:9870",
        description=(
            "Where files land: http(s)://namenode:9870 or webhdfs://namenode:9870 (WebHDFS, the "
            "`hdfs` package), hdfs://namenode:8020 (native RPC, needs `hdfs-native`), or "
            "file:///path (the local filesystem, for development)."
        ),
    )
    hdfs_user: str | None = Field(None, description="HDFS user; default: the current user.")
    storage_timeout_s: float = Field(
        30.0, gt=0, description="One HDFS request fails after this; then the publish is retried."
    )
    root: str = Field("/surge/events", description="Folder of the dt=/hr= partitions.")

    # Rotation: a partition publishes its buffers when any limit is reached.
    rotate_rows: int = Field(1_000_000, ge=1, description="Rows buffered in one partition.")
    rotate_bytes: int = Field(
        128 * MIB, ge=1, description="Bytes of record values (JSON) buffered in one partition."
    )
    rotate_age_s: float = Field(
        45.0, gt=0, description="Age of the oldest buffered record; keeps visibility under 60 s."
    )

    # Parquet
    compression: str = Field("zstd", description="Parquet codec.")
    compression_level: int | None = Field(3, description="Codec level; None: the codec default.")
    row_group_rows: int = Field(128 * 1024, ge=1, description="Rows per Parquet row group.")

    # Failures
    backoff_initial_s: float = Field(0.5, gt=0, description="First wait after a failed publish.")
    backoff_max_s: float = Field(30.0, gt=0, description="Longest wait between retries.")
    shutdown_timeout_s: float = Field(
        30.0, ge=0, description="On SIGTERM, how long to keep retrying the last publish."
    )

    # Operations
    metrics_port: int = Field(9108, ge=0, description="Prometheus /metrics port; 0: none.")
    log_level: str = Field("INFO", description="Python logging level.")
