"""What every report job does: args -> session -> read the day -> transform -> write.

Each ``batch/<report>.py`` is this with one report; ``batch/reports.py`` with all of them,
from one read of the day (the deduplicated events, and the payments and money lines that
several reports use, are cached and shared).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from batch import funnel, orders, products, sales, traffic
from batch.day import BusinessDay
from batch.events import read_day
from batch.output import publish
from batch.quality import SCHEMA as QUALITY_SCHEMA
from batch.quality import describe, quality
from batch.session import spark_session
from batch.settings import BatchSettings, report_args

QUALITY = "_quality"


class Inputs:
    """The day's events, and the intermediates reports share, each built once and cached."""

    def __init__(self, events: DataFrame, day: BusinessDay):
        self.events, self.day = events, day
        self._cached: list[DataFrame] = []

    @functools.cached_property
    def payments(self) -> DataFrame:
        """orders.first_payments: sales_minute, and money below."""
        return self._keep(orders.first_payments(self.events))

    @functools.cached_property
    def money(self) -> DataFrame:
        """orders.money_lines: sales_daily and top_products."""
        return self._keep(orders.money_lines(self.events, self.payments))

    def unpersist(self) -> None:
        for frame in self._cached:
            frame.unpersist()

    def _keep(self, frame: DataFrame) -> DataFrame:
        self._cached.append(frame.cache())
        return frame


@dataclass(frozen=True)
class Report:
    build: Callable[[Inputs], DataFrame]  # the day's inputs -> the report
    order: list[str]  # row order of the written file


REPORTS: dict[str, Report] = {
    "traffic_daily": Report(lambda d: traffic.traffic_daily(d.events), traffic.DIMS),
    "traffic_minute": Report(lambda d: traffic.traffic_minute(d.events, d.day), ["minute"]),
    "funnel_daily": Report(lambda d: funnel.funnel_daily(d.events), funnel.DIMS),
    "sales_daily": Report(lambda d: sales.sales_daily(d.money), sales.DIMS),
    "sales_minute": Report(lambda d: sales.sales_minute(d.payments, d.day), ["minute"]),
    "top_products": Report(lambda d: products.top_products(d.events, d.money), ["rank"]),
}


def main(names: list[str], argv: list[str] | None, prog: str) -> int:
    """The command line of a report job: ``--date`` etc. (batch/settings.py)."""
    what = ", ".join(names)
    settings = report_args(argv, prog, f"Build {what} for one business day.")
    spark = spark_session(settings, app_name=f"surge {prog} {settings.date}")
    run_reports(spark, settings, names)
    return 0


def run_reports(spark: SparkSession, settings: BatchSettings, names: list[str]) -> dict:
    """Read the day once, write its quality row and each report; returns the quality row."""
    unknown = sorted(set(names) - set(REPORTS))
    if unknown:
        raise ValueError(f"unknown reports {unknown}; known: {sorted(REPORTS)}")
    assert settings.date is not None
    day = BusinessDay(settings.date, settings.tz)
    read = read_day(spark, settings.events, day, settings.dedup_margin_hours)
    inputs = Inputs(read.events, day)
    try:
        computed = quality(read.rows, read.events, day, read.files)
        row = computed.asDict()
        print(describe(row), flush=True)
        written = spark.createDataFrame([computed], QUALITY_SCHEMA)
        publish(written, settings.reports, QUALITY, day.date, ["date"])
        for name in names:
            started = time.monotonic()
            report = REPORTS[name]
            built = report.build(inputs)
            path = publish(built, settings.reports, name, day.date, report.order)
            print(f"wrote {path} ({time.monotonic() - started:.1f} s)", flush=True)
    finally:
        inputs.unpersist()
        read.unpersist()
    return row


def entry(name: str) -> Callable[[list[str] | None], int]:
    """The ``main(argv)`` of a one-report job module."""

    def report_main(argv: list[str] | None = None) -> int:
        return main([name], argv if argv is not None else sys.argv[1:], f"batch/{name}.py")

    report_main.__doc__ = f"spark-submit batch/{name}.py --date YYYY-MM-DD [...]"
    return report_main
