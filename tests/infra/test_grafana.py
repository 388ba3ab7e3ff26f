"""The Grafana dashboard queries only series the collector and the lander really expose."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from collector.metrics import Metrics as CollectorMetrics
from stream.metrics import Metrics as LanderMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "surge.json"
# What prometheus_client exposes for each kind of metric family.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}
METRIC = re.compile(r"\b(surge_[a-z_]+)\b")
GROUPING = re.compile(r"\bby \(([^)]*)\)")
MATCHERS = re.compile(r"(surge_[a-z_]+)\{([^}]*)\}")


def exposed() -> dict[str, set[str]]:
    """Every series name the two modules expose -> its label names (``le`` for buckets)."""
    series: dict[str, set[str]] = {}
    for metrics in (CollectorMetrics(CollectorRegistry()), LanderMetrics(CollectorRegistry())):
        for family in metrics.registry.collect():
            # prometheus_client has no public accessor for a metric's label names.
            collector = metrics.registry._names_to_collectors[family.name]
            labels = set(collector._labelnames)
            for suffix in SUFFIXES[family.type]:
                series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_every_queried_series_and_label_exists() -> None:
    series = exposed()
    exprs = queries()
    assert len(exprs) >= 20
    for expr in exprs:
        names = METRIC.findall(expr)
        assert names, expr
        for name in names:
            assert name in series, f"{name} (in {expr!r}) is not exposed by the services"
        labels = set().union(*(series[n] for n in names))
        for group in GROUPING.findall(expr):
            for label in filter(None, (g.strip() for g in group.split(","))):
                assert label in labels, f"label {label!r} of {expr!r} is not on {names}"
        for name, matchers in MATCHERS.findall(expr):
            for label in re.findall(r"(\w+)\s*=", matchers):
                assert label in series[name], f"label {label!r} of {expr!r}"


def test_the_dashboard_covers_rates_statuses_shedding_limit_latency_and_lag() -> None:
    text = " ".join(queries())
    for needed in (
        "surge_collector_requests_total",  # rates and statuses
        "surge_collector_requests_refused_total",  # shed
        "surge_collector_concurrency_limit",
        "histogram_quantile(0.99, sum by (le) (rate(surge_collector_request_seconds_bucket",
        "surge_lander_lag",
        "surge_lander_records_landed_total",
    ):
        assert needed in text


def test_a_dashboard_grafana_can_import() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 30
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
