"""A small made-up sale in the shape of the reports and the load generator's results, for the
unit tests of the figures and the dashboard (the end-to-end test uses real ones)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa

from infra.figures import FUNNEL

DAY = date(2026, 11, 11)
# 10:30 in Shanghai; the sale runs three minutes from here.
START = datetime(2026, 11, 11, 2, 30, tzinfo=UTC)
MONEY = pa.decimal128(28, 4)


def _with_day(table: pa.Table, day: date = DAY) -> pa.Table:
    return table.append_column("day", pa.array([day] * table.num_rows, pa.date32()))


def reports() -> dict[str, pa.Table]:
    minutes = [START + timedelta(minutes=m) for m in range(-2, 5)]
    views = [0, 3, 120, 900, 400, 0, 0]  # 3 late events before the sale
    gmv = [Decimal(0), Decimal(0), Decimal("1200.50"), Decimal("9000"), Decimal("3000"), 0, 0]
    cumulative = [sum(gmv[: i + 1], Decimal(0)) for i in range(len(gmv))]
    timestamp = pa.timestamp("us", tz="UTC")
    traffic_minute = pa.table(
        {
            "minute": pa.array(minutes, timestamp),
            "page_views": views,
            "unique_devices": [v // 3 for v in views],
        }
    )
    sales_minute = pa.table(
        {
            "minute": pa.array(minutes, timestamp),
            "gmv": pa.array(gmv, MONEY),
            "paid_orders": [0, 0, 3, 20, 7, 0, 0],
            "cumulative_gmv": pa.array(cumulative, MONEY),
        }
    )
    sales_daily = pa.table(
        {
            "category": ["(all)", "serum", "(all)"],
            "platform": ["(all)", "(all)", "web"],
            "gmv": pa.array([Decimal("13200.50"), Decimal("9000"), Decimal("5000")], MONEY),
            "paid_orders": [30, 20, 11],
            "buyers": [28, 19, 10],
            "refund_amount": pa.array([Decimal("99"), Decimal(0), Decimal(0)], MONEY),
        }
    )
    traffic_daily = pa.table(
        {
            "platform": ["(all)", "ios"],
            "campaign_source": ["(all)", "(all)"],
            "page_views": [1423, 500],
        }
    )
    funnel = {"platform": ["(all)"], "campaign_source": ["(all)"]}
    funnel |= {
        f"{step}_devices": [n] for step, n in zip(FUNNEL, (400, 150, 90, 40, 30), strict=True)
    }
    top_products = pa.table(
        {
            "rank": [1, 2, 3],
            "sku": ["SKU-A", "SKU-B", "SKU-C"],
            "category": ["serum", "lipstick", "mask"],
            "units_sold": [20, 15, 2],
            "revenue": pa.array([Decimal("9000"), Decimal("4000.50"), Decimal("200")], MONEY),
        }
    )
    quality = pa.table({"events": [5000], "duplicates_removed": [12]})
    tables = {
        "traffic_minute": traffic_minute,
        "sales_minute": sales_minute,
        "sales_daily": sales_daily,
        "traffic_daily": traffic_daily,
        "funnel_daily": pa.table(funnel),
        "top_products": top_products,
        "_quality": quality,
    }
    return {name: _with_day(table) for name, table in tables.items()}


def results() -> dict:
    timeline = [
        {
            "second": s,
            "offered_events": 1000 if s < 10 else 10000,
            "acked_events": 1000 if s < 10 else 9000,
            "shed": 0 if s < 10 else 40,
            "ok_p50_ms": 3.0,
            "ok_p99_ms": 20.0 if s < 10 else 180.0,
        }
        for s in range(30)
    ]
    return {
        "started_at": START.isoformat(),
        "duration_s": 30.0,
        "events": {"acked": 5000},
        "timeline": timeline,
    }
