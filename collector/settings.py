"""Every knob of the collector, typed and in one place.

Each field can be overridden by the environment variable ``SURGE_COLLECTOR_`` + its name in
upper case (``port`` -> ``SURGE_COLLECTOR_PORT``); maps and lists are given as JSON:

    SURGE_COLLECTOR_WRITE_KEYS='{"wk_live_3b1f": {"app_id": "shop", "events_per_s": 50000}}'
    SURGE_COLLECTOR_CORS_ORIGINS='["https://shop.example.com"]'

The local default accepts one write key, ``dev``, for the app ``dev``: real deployments set
``SURGE_COLLECTOR_WRITE_KEYS`` (which replaces it) and their allowed CORS origins.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import catalogue, segment

KIB = 1024
MIB = 1024 * KIB


class SegmentMapping(BaseModel):
    """How Segment calls map onto the catalogue (collector/segment.py); defaults and the
    mapping itself are documented in schemas/README.md (from schemas/segment.py)."""

    model_config = {"frozen": True}

    track_events: dict[str, str] = Field(
        default_factory=lambda: dict(segment.TRACK_EVENTS),
        description="track event name -> catalogue type; other names are counted and dropped.",
    )
    platform: str | None = Field(
        None,
        max_length=32,
        description="context.platform of every event; default: from context.library.name.",
    )
    currency: str = Field(
        segment.DEFAULT_CURRENCY,
        pattern="^[A-Z]{3}$",
        description="Currency of amounts sent without one (Segment's spec says US dollars).",
    )

    @field_validator("track_events")
    @classmethod
    def _catalogue_types(cls, value: dict[str, str]) -> dict[str, str]:
        known = catalogue.event_types()
        unknown = sorted(set(value.values()) - known.keys())
        if unknown:
            raise ValueError(f"not catalogue types: {unknown}")
        return value


class WriteKey(BaseModel):
    """What a write key stands for. In the env map a bare string means ``{"app_id": ...}``."""

    model_config = {"frozen": True}

    app_id: str = Field(min_length=1, max_length=256)
    events_per_s: float | None = Field(
        None, gt=0, description="This key's rate limit (whole service); default: the global one."
    )
    cors_origins: tuple[str, ...] | None = Field(
        None, description="Origins allowed to read this key's answers; default: the global list."
    )
    segment: SegmentMapping | None = Field(
        None, description="This key's Segment mapping; default: the global one."
    )


class CollectorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SURGE_COLLECTOR_", frozen=True)

    # --- serving
    host: str = Field(
        "127.0.0.1", description="Address to bind; 0.0.0.0 in a deployment behind a balancer."
    )
    port: int = Field(8080, ge=0, le=65535, description="HTTP port, shared by all workers.")
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Worker processes (one event loop each) sharing the port with SO_REUSEPORT.",
    )
    shutdown_grace_s: float = Field(
        10.0, gt=0, description="On SIGTERM, how long in-flight requests may take to finish."
    )
    backlog: int = Field(1024, gt=0, description="Listen backlog of each worker's socket.")
    gc_threshold: int = Field(
        10_000,
        ge=0,
        description="Worker's gen-0 GC threshold (Python's default, 700, collects far more often "
        "than short-lived parsed events need); startup objects are frozen out of collections. "
        "0 keeps Python's defaults.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Logs are JSON lines on stderr; there is no line per request."
    )

    # --- Kafka
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    topic: str = Field("surge.events", description="Where valid events go.")
    dlq_topic: str = Field("surge.events.dlq", description="Where rejected events go.")
    compression: Literal["gzip", "lz4", "zstd", "snappy", "none"] = Field(
        "lz4",
        description="Producer compression; lz4 was chosen with bench_collector.py --sink.",
    )
    compression_level: int | None = Field(
        None, description="The codec's level; default: librdkafka's."
    )
    linger_ms: int = Field(
        10,
        ge=0,
        description="How long the producer waits to fill a batch: longer makes fewer, fuller "
        "batches (less broker CPU per event) for that much more latency.",
    )
    poll_interval_ms: float = Field(
        1.0,
        gt=0,
        description="How often delivery reports are served while records wait.",
    )
    max_batch_bytes: int = Field(256 * KIB, gt=0, description="Producer batch per partition.")
    delivery_timeout_s: float = Field(
        1.0, gt=0, description="Kafka must acknowledge a request's records within this, or 503."
    )
    max_pending_bytes: int = Field(
        32 * MIB,
        gt=0,
        description="Per worker: record bytes sent but not yet acknowledged; above it, 503.",
    )
    health_interval_s: float = Field(
        1.0, gt=0, description="How often Kafka is probed when no delivery proved it up."
    )

    # --- limits of one request
    max_body_bytes: int = Field(1 * MIB, gt=0, description="Body as sent (maybe gzip), else 413.")
    max_decompressed_bytes: int = Field(8 * MIB, gt=0, description="Body after gunzip, else 413.")
    max_events_per_batch: int = Field(500, gt=0, description="Events in one batch, else 413.")
    max_event_bytes: int = Field(64 * KIB, gt=0, description="One event as JSON, else 413.")
    max_json_depth: int = Field(32, gt=0, description="Nesting depth of one event, else rejected.")

    # --- deadlines
    body_timeout_s: float = Field(5.0, gt=0, description="Reading the body, else 408.")
    idle_timeout_s: float = Field(
        15.0,
        gt=0,
        description="A connection that has not sent a whole request head this long after it "
        "opened or after its last answer is closed: idle keep-alive connections, and slow "
        "senders (slowloris). Above the SDKs' 10 s flush interval, so their connections stay.",
    )
    request_timeout_s: float = Field(
        8.0, gt=0, description="Whole request after admission, else 503 (covers the others)."
    )

    # --- overload protection (per worker)
    max_in_flight: int = Field(
        32,
        gt=0,
        description="Requests in progress per worker, above which new ones are shed: the "
        "worker's capacity (requests/s) times its unloaded latency, with room for Kafka's "
        "bursts; measured in bench/bench_collector.py's overload section.",
    )
    shed_before_http: bool = Field(
        True,
        description="Answer shed requests from their raw bytes, before aiohttp parses them "
        "(shedding.py): a shed answer then costs a fraction of one through aiohttp.",
    )
    loop_lag_interval_ms: float = Field(
        10.0, gt=0, description="How often the event loop's lag is measured (a metric)."
    )
    max_retry_after_s: int = Field(
        30,
        ge=2,
        description="Shed answers say Retry-After: a whole number of seconds drawn from 1 .. "
        "the current overload (offered / admitted), at most this.",
    )
    events_per_s: float = Field(
        200_000, gt=0, description="Default rate limit of one write key, whole service."
    )
    burst_s: float = Field(
        1.0, gt=0, description="Token bucket size, in seconds of the key's rate."
    )

    # --- write keys and CORS
    write_keys: dict[str, WriteKey] = Field(
        default_factory=lambda: {"dev": WriteKey(app_id="dev")},
        description="Write key -> app. Default: the local key `dev` for the app `dev`.",
    )
    cors_origins: tuple[str, ...] = Field(
        ("*",), description="Origins allowed to read answers, unless a key says otherwise."
    )

    # --- Segment's Tracking API (/segment/v1), limits as Segment's own
    segment: SegmentMapping = Field(
        default_factory=SegmentMapping, description="Segment mapping of keys without their own."
    )
    segment_max_body_bytes: int = Field(500 * KIB, gt=0, description="One request, else 413.")
    segment_max_call_bytes: int = Field(32 * KIB, gt=0, description="One call, else 413.")

    # --- enrichment
    ip_truncate: bool = Field(
        False, description="Zero the host part of client IPs (IPv4 /24, IPv6 /48)."
    )
    forwarded_hops: int = Field(
        0, ge=0, description="Trusted proxies in front: take the client IP from X-Forwarded-For."
    )
    max_future_skew_s: float = Field(
        5.0, ge=0, description="event_time is never later than received_at + this."
    )

    @field_validator("write_keys", mode="before")
    @classmethod
    def _bare_app_ids(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: {"app_id": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _coherent(self) -> CollectorSettings:
        if self.max_decompressed_bytes < self.max_body_bytes:
            raise ValueError("max_decompressed_bytes must be >= max_body_bytes")
        return self
