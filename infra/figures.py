"""What a run's reports say: the figures ``make run`` prints and its dashboard draws.

Read back from the report Parquet through WebHDFS, as a dashboard would read them, for every
business day the run's events fell on (one, unless the sale straddles local midnight or an app
sent events held back in an offline queue from the day before).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from hdfs import InsecureClient

REPORTS = ("traffic_daily", "traffic_minute", "funnel_daily", "sales_daily", "sales_minute")
REPORTS += ("top_products", "_quality")
FUNNEL = ("product_view", "add_to_cart", "begin_checkout", "order_placed", "payment_succeeded")
ALL = "(all)"


def business_days(first: datetime, last: datetime, tz: str) -> list[date]:
    """The business days from ``first`` to ``last`` (aware datetimes) in ``tz``."""
    zone = ZoneInfo(tz)
    day, end = first.astimezone(zone).date(), last.astimezone(zone).date()
    days = []
    while day <= end:
        days.append(day)
        day += timedelta(days=1)
    return days


def read_reports(client: InsecureClient, root: str, days: list[date]) -> dict[str, pa.Table]:
    """Every report of ``days`` under ``root``, each day's rows one after the other, with a
    ``day`` column."""
    tables: dict[str, list[pa.Table]] = {name: [] for name in REPORTS}
    for day in days:
        for name in REPORTS:
            folder = f"{root}/{name}/dt={day.isoformat()}"
            for base in sorted(client.list(folder)):
                if base.endswith(".parquet"):
                    with client.read(f"{folder}/{base}") as reader:
                        table = pq.read_table(io.BytesIO(reader.read()))
                    day_column = pa.array([day] * table.num_rows, pa.date32())
                    tables[name].append(table.append_column("day", day_column))
    return {name: pa.concat_tables(parts) for name, parts in tables.items() if parts}


@dataclass(frozen=True)
class Minute:
    local: str  # HH:MM in the business zone
    value: float


@dataclass(frozen=True)
class Product:
    rank: int
    sku: str
    category: str
    units: int
    revenue: Decimal


@dataclass(frozen=True)
class SaleFigures:
    """The headline of the sale, summed over its business days."""

    days: list[date]
    gmv: Decimal
    paid_orders: int
    buyers: int  # per day, summed: a buyer of two days counts twice
    refund_amount: Decimal
    events: int  # distinct events the reports counted (after deduplication)
    duplicates_removed: int
    page_views: int
    peak_traffic: Minute | None  # the minute with the most page views
    peak_sales: Minute | None  # the minute with the most paid GMV
    top: list[Product]
    marks: dict[Decimal, str | None]  # cumulative GMV mark -> the minute it was passed

    @property
    def aov(self) -> Decimal | None:
        return (self.gmv / self.paid_orders).quantize(Decimal("0.01")) if self.paid_orders else None


def total_rows(table: pa.Table, *dims: str) -> list[dict]:
    """The grand-total rows (every dimension ``(all)``), one per day."""
    return [r for r in table.to_pylist() if all(r[d] == ALL for d in dims)]


def sale_figures(
    reports: dict[str, pa.Table], tz: str, marks: list[Decimal], top: int = 5
) -> SaleFigures:
    zone = ZoneInfo(tz)
    sales = total_rows(reports["sales_daily"], "category", "platform")
    traffic = total_rows(reports["traffic_daily"], "platform", "campaign_source")
    quality = reports["_quality"].to_pylist()
    minutes = reports["sales_minute"].to_pylist()
    products = sorted(per_sku(reports["top_products"].to_pylist()), key=_by_revenue)

    def local(minute: datetime) -> str:
        return minute.astimezone(zone).strftime("%H:%M")

    def peak(rows: list[dict], column: str) -> Minute | None:
        best = max(rows, key=lambda r: r[column] or 0, default=None)
        if best is None or not best[column]:
            return None
        return Minute(local(best["minute"]), float(best[column]))

    passed: dict[Decimal, str | None] = dict.fromkeys(marks)
    cumulative = Decimal(0)  # across days: the reports' cumulative_gmv restarts at midnight
    for row in sorted(minutes, key=lambda r: r["minute"]):
        cumulative += row["gmv"] or 0
        for mark in marks:
            if passed[mark] is None and cumulative >= mark:
                passed[mark] = local(row["minute"])
    return SaleFigures(
        days=sorted({r["day"] for r in sales}),
        gmv=sum((r["gmv"] or Decimal(0) for r in sales), Decimal(0)),
        paid_orders=sum(r["paid_orders"] for r in sales),
        buyers=sum(r["buyers"] for r in sales),
        refund_amount=sum((r["refund_amount"] or Decimal(0) for r in sales), Decimal(0)),
        events=sum(r["events"] for r in quality),
        duplicates_removed=sum(r["duplicates_removed"] for r in quality),
        page_views=sum(r["page_views"] for r in traffic),
        peak_traffic=peak(reports["traffic_minute"].to_pylist(), "page_views"),
        peak_sales=peak(minutes, "gmv"),
        top=[
            Product(i + 1, p["sku"], p["category"], p["units_sold"], p["revenue"])
            for i, p in enumerate(products[:top])
        ],
        marks=passed,
    )


def per_sku(rows: list[dict]) -> list[dict]:
    """One row per SKU: a SKU has one row per day."""
    skus: dict[str, dict] = {}
    for row in rows:
        into = skus.setdefault(row["sku"], {**row, "units_sold": 0, "revenue": Decimal(0)})
        into["units_sold"] += row["units_sold"] or 0
        into["revenue"] += row["revenue"] or 0
    return list(skus.values())


def _by_revenue(row: dict) -> tuple:
    """As the report ranks: revenue, then units, then SKU."""
    return (-row["revenue"], -row["units_sold"], row["sku"])
