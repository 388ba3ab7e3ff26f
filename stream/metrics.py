"""The lander's Prometheus metrics, on a registry of its own (no module-level singletons)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.records_landed = Counter(
            "surge_lander_records_landed", "Rows published to storage.", ["partition"], registry=r
        )
        self.bytes_landed = Counter(
            "surge_lander_bytes_landed", "Parquet bytes published.", ["partition"], registry=r
        )
        self.files_published = Counter(
            "surge_lander_files_published", "Parquet files published.", registry=r
        )
        self.rotations = Counter(
            "surge_lander_rotations",
            "Publishes, by what triggered them (rows, bytes, age, shutdown).",
            ["reason"],
            registry=r,
        )
        self.publish_seconds = Histogram(
            "surge_lander_publish_seconds",
            "From freezing the buffers to the last rename and log truncation.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.publish_failures = Counter(
            "surge_lander_publish_failures", "Storage errors while publishing.", registry=r
        )
        self.lag = Gauge(
            "surge_lander_lag",
            "Records in Kafka not yet published (high watermark - next offset).",
            ["partition"],
            registry=r,
        )
        self.dlq = Counter(
            "surge_lander_dlq", "Records sent to the DLQ, by reason.", ["reason"], registry=r
        )
        self.decoded = Counter(
            "surge_lander_records_decoded",
            "Records decoded, by path: native (a whole poll read by Arrow) or reference (event by "
            "event in Python: records not in the shape the collector writes, or odd values).",
            ["path"],
            registry=r,
        )
        self.redelivered = Counter(
            "surge_lander_redelivered_skipped",
            "Records below the next offset, skipped as already landed.",
            registry=r,
        )

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)


def total(counter: Counter) -> float:
    """A counter's value, summed over its labels."""
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
