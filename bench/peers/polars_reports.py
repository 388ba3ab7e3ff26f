"""The day's six reports in Polars: the definitions of bench/bench_reports.py's DuckDB SQL
(and so of batch/), for the side-by-side in bench/peers/reports.py.

Money is Float64 here (Polars' decimals do not divide); the shares of an order are rounded to
4 places as in the SQL, so totals agree with the other engines to the cent. The cross-check
reads the written files back with DuckDB, outside the timed part.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "2")  # before the import: the pool is sized once

import polars as pl
from bench_reports import DATE, TZ, day_files, named_totals  # bench/ is sys.path[0]

from batch.day import BusinessDay

ORDER = ["event_time", "event_id"]  # "first" of a group is the first by this order
COLUMNS = [
    *("event_id", "type", "event_time", "received_at", "device_id", "user_id", "session_id"),
    *("platform", "campaign_source", "order_id", "amount", "sku", "category", "items"),
]
SESSION_GAP_US = 1_800_000_000
FUNNEL = ("product_view", "add_to_cart", "begin_checkout", "order_placed", "payment_succeeded")


def run(root: Path, out: Path, threads: int) -> dict:
    """Write the six reports of the day under ``out``; returns the cross-check totals."""
    day = BusinessDay(DATE, TZ)
    files = day_files(root, day)
    out.mkdir(parents=True, exist_ok=True)
    start = day.start.replace(tzinfo=None)
    end = day.end.replace(tzinfo=None)
    events = _events(files, start, end)
    _write(_traffic_daily(_sessions(events)), out, "traffic_daily")
    _write(_traffic_minute(events, start), out, "traffic_minute")
    _write(_funnel_daily(events), out, "funnel_daily")
    payments = _payments(events)
    money = _money(events, payments)
    _write(_sales_daily(money), out, "sales_daily")
    _write(_sales_minute(payments, start), out, "sales_minute")
    _write(_top_products(events, money), out, "top_products")
    return _totals(out, events.height)


def _write(frame: pl.DataFrame, out: Path, name: str) -> None:
    frame.write_parquet(out / f"{name}.parquet", compression="zstd")


def _events(files: list[str], start, end) -> pl.DataFrame:
    """Valid events of the day, one per (device, event id): the first received."""
    scan = pl.scan_parquet(files).select(COLUMNS)
    times = [c for c in ("event_time", "received_at") if scan.collect_schema()[c].time_zone]
    if times:  # compare with naive UTC bounds
        scan = scan.with_columns(
            [pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None) for c in times]
        )
    return (
        scan.filter(
            pl.all_horizontal(
                pl.col(c).is_not_null() for c in ("event_id", "type", "event_time", "device_id")
            )
        )
        .with_columns(pl.col("amount").cast(pl.Float64))
        .sort(["device_id", "event_id", "received_at", "type", "event_time"])
        .unique(["device_id", "event_id"], keep="first", maintain_order=True)
        .filter((pl.col("event_time") >= start) & (pl.col("event_time") < end))
        .collect()
    )


def _sessions(events: pl.DataFrame) -> pl.DataFrame:
    lone = pl.col("session_id").is_null()
    part = [pl.col("device_id"), lone.alias("lone")]
    us = pl.col("event_time").dt.epoch("us")
    gap = us - us.shift(1).over(part)
    opens = pl.when(gap.is_null() | (gap > SESSION_GAP_US)).then(us)
    return (
        events.lazy()
        .sort(["device_id", "event_time", "event_id"])
        .with_columns(opened=opens.forward_fill().over(part))
        .with_columns(
            session_key=pl.when(lone.not_())
            .then(pl.concat_str(pl.col("device_id"), pl.lit("|s|"), pl.col("session_id")))
            .otherwise(
                pl.concat_str(pl.col("device_id"), pl.lit("|t|"), pl.col("opened").cast(pl.Utf8))
            )
        )
        .group_by("session_key", "device_id")
        .agg(
            pl.col("platform").fill_null("(none)").first(),
            pl.col("campaign_source").fill_null("(none)").first(),
            pl.col("user_id").first(),
            (pl.col("type") == "page_view").sum().alias("page_views"),
            pl.len().alias("events"),
        )
        .collect()
    )


def _cube(frame: pl.DataFrame, keys: list[str], aggs: list[pl.Expr]) -> pl.DataFrame:
    """GROUP BY CUBE(keys): every subset of the keys, the others '(all)'."""
    parts = []
    for mask in range(1 << len(keys)):
        kept = [k for i, k in enumerate(keys) if mask & (1 << i)]
        lazy = frame.lazy()
        grouped = lazy.group_by(kept).agg(aggs) if kept else lazy.select(aggs)
        parts.append(
            grouped.with_columns(pl.lit("(all)").alias(k) for k in keys if k not in kept).select(
                *keys, *[a.meta.output_name() for a in aggs]
            )
        )
    return pl.concat(pl.collect_all(parts))


def _distinct(name: str, where: pl.Expr | None = None) -> pl.Expr:
    col = pl.col(name) if where is None else pl.col(name).filter(where)
    return col.drop_nulls().n_unique()


def _traffic_daily(sessions: pl.DataFrame) -> pl.DataFrame:
    bounce = (pl.col("events") == 1) & (pl.col("page_views") == 1)
    daily = _cube(
        sessions,
        ["platform", "campaign_source"],
        [
            pl.col("page_views").sum(),
            _distinct("device_id").alias("unique_devices"),
            _distinct("user_id").alias("unique_users"),
            pl.len().alias("sessions"),
            bounce.sum().alias("bounces"),
        ],
    )
    return daily.with_columns(
        bounce_rate=pl.col("bounces") / pl.col("sessions"),
        pages_per_session=pl.col("page_views") / pl.col("sessions"),
    )


def _grid(start) -> pl.DataFrame:
    minutes = pl.datetime_range(start, start + pl.duration(minutes=1439), "1m", eager=True)
    return pl.DataFrame({"minute": minutes, "minute_of_day": range(1440)}).with_columns(
        pl.col("minute").dt.cast_time_unit("us")
    )


def _traffic_minute(events: pl.DataFrame, start) -> pl.DataFrame:
    per = (
        events.lazy()
        .group_by(pl.col("event_time").dt.truncate("1m").alias("minute"))
        .agg(
            (pl.col("type") == "page_view").sum().alias("page_views"),
            pl.col("device_id").n_unique().alias("unique_devices"),
        )
        .collect()
    )
    return (
        _grid(start)
        .join(per, on="minute", how="left")
        .with_columns(pl.col("page_views", "unique_devices").fill_null(0))
        .sort("minute")
    )


def _funnel_daily(events: pl.DataFrame) -> pl.DataFrame:
    steps = events.lazy().filter(pl.col("type").is_in(FUNNEL)).sort(ORDER)
    first_views = (
        steps.filter(pl.col("type") == "product_view")
        .group_by("device_id")
        .agg(
            pl.col("platform").fill_null("(none)").first(),
            pl.col("campaign_source").fill_null("(none)").first(),
            pl.col("event_time").min().alias("t1"),
        )
    )
    reached = first_views
    for n, step in enumerate(FUNNEL[1:], start=2):
        previous = f"t{n - 1}"
        nxt = (
            steps.filter(pl.col("type") == step)
            .join(reached.select("device_id", previous), on="device_id")
            .filter(pl.col("event_time") >= pl.col(previous))
            .group_by("device_id")
            .agg(pl.col("event_time").min().alias(f"t{n}"))
        )
        reached = reached.join(nxt, on="device_id", how="left")
    names = [f"{step}_devices" for step in FUNNEL]
    return _cube(
        reached.collect(),
        ["platform", "campaign_source"],
        [pl.col(f"t{n}").count().alias(name) for n, name in enumerate(names, start=1)],
    )


def _buyer() -> pl.Expr:
    return pl.coalesce(pl.col("user_id"), pl.lit("device:") + pl.col("device_id"))


def _first_by_order(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.sort(ORDER).unique("order_id", keep="first", maintain_order=True)


def _payments(events: pl.DataFrame) -> pl.DataFrame:
    paid = events.lazy().filter(
        (pl.col("type") == "payment_succeeded") & pl.col("order_id").is_not_null()
    )
    return (
        _first_by_order(paid)
        .select(
            "order_id",
            "event_id",
            "event_time",
            "amount",
            pl.col("platform").fill_null("(none)"),
            "device_id",
            _buyer().alias("buyer"),
        )
        .collect()
    )


def _money(events: pl.DataFrame, payments: pl.DataFrame) -> pl.DataFrame:
    """One row per order line of each payment and refund, with its share of the amount."""
    placed = events.lazy().filter(
        (pl.col("type") == "order_placed") & pl.col("order_id").is_not_null()
    )
    lines = (
        _first_by_order(placed)
        .select("order_id", pl.col("device_id").alias("order_device"), "items")
        .with_columns(line=pl.int_ranges(pl.col("items").list.len()))
        .explode("items", "line")
        .unnest("items")
        .select(
            "order_id",
            "order_device",
            "line",
            "sku",
            pl.col("category").fill_null("(unknown)"),
            "quantity",
            (pl.col("price").cast(pl.Float64) * pl.col("quantity")).alias("value"),
        )
    )
    paid = payments.lazy().filter(pl.col("amount").is_not_null())
    refunds = events.lazy().filter(
        (pl.col("type") == "refund")
        & pl.col("order_id").is_not_null()
        & pl.col("amount").is_not_null()
    )
    m = pl.concat(
        [
            paid.select(
                pl.lit("payment_succeeded").alias("kind"),
                "event_id",
                "order_id",
                "platform",
                "buyer",
                pl.col("amount").alias("total"),
            ),
            refunds.select(
                pl.lit("refund").alias("kind"),
                "event_id",
                "order_id",
                pl.col("platform").fill_null("(none)"),
                _buyer().alias("buyer"),
                pl.col("amount").alias("total"),
            ),
        ]
    )
    value = pl.col("value").fill_null(0)
    upto = value.cum_sum().over("event_id", order_by="line")
    whole = pl.col("value").sum().over("event_id")
    share = (pl.col("total") * upto / whole).round(4) - (
        pl.col("total") * (upto - value) / whole
    ).round(4)
    amount = (
        pl.when(whole > 0)
        .then(share)
        .when(pl.col("line").fill_null(0) == 0)
        .then(pl.col("total"))
        .otherwise(0.0)
    )
    return m.join(lines, on="order_id", how="left").with_columns(amount=amount).collect()


def _sales_daily(money: pl.DataFrame) -> pl.DataFrame:
    paid, refund = pl.col("kind") == "payment_succeeded", pl.col("kind") == "refund"
    daily = _cube(
        money,
        ["category", "platform"],
        [
            pl.col("amount").filter(paid).sum().alias("gmv"),
            _distinct("order_id", paid).alias("paid_orders"),
            _distinct("buyer", paid).alias("buyers"),
            _distinct("order_id", refund).alias("refunded_orders"),
            pl.col("amount").filter(refund).sum().alias("refund_amount"),
        ],
    )
    return daily.with_columns(
        average_order_value=(
            pl.col("gmv") / pl.when(pl.col("paid_orders") > 0).then(pl.col("paid_orders"))
        ).round(4),
        net_revenue=pl.col("gmv") - pl.col("refund_amount"),
    )


def _sales_minute(payments: pl.DataFrame, start) -> pl.DataFrame:
    per = payments.group_by(pl.col("event_time").dt.truncate("1m").alias("minute")).agg(
        pl.col("amount").sum().alias("gmv"), pl.len().alias("paid_orders")
    )
    return (
        _grid(start)
        .join(per, on="minute", how="left")
        .with_columns(pl.col("gmv").fill_null(0.0), pl.col("paid_orders").fill_null(0))
        .sort("minute")
        .with_columns(
            cumulative_gmv=pl.col("gmv").cum_sum(),
            cumulative_paid_orders=pl.col("paid_orders").cum_sum(),
        )
    )


def _top_products(events: pl.DataFrame, money: pl.DataFrame) -> pl.DataFrame:
    looked = events.lazy().filter(
        pl.col("type").is_in(["product_view", "add_to_cart"]) & pl.col("sku").is_not_null()
    )
    bought = money.lazy().filter(
        (pl.col("kind") == "payment_succeeded") & pl.col("sku").is_not_null()
    )
    rows = pl.concat(
        [
            looked.select(
                "sku",
                "category",
                "device_id",
                (pl.col("type") == "product_view").cast(pl.Int64).alias("views"),
                (pl.col("type") == "add_to_cart").cast(pl.Int64).alias("add_to_carts"),
                pl.lit(0, pl.Int64).alias("units_sold"),
                pl.lit(0.0).alias("revenue"),
            ),
            bought.select(
                "sku",
                "category",
                pl.col("order_device").alias("device_id"),
                pl.lit(0, pl.Int64).alias("views"),
                pl.lit(0, pl.Int64).alias("add_to_carts"),
                pl.col("quantity").cast(pl.Int64).alias("units_sold"),
                pl.col("amount").alias("revenue"),
            ),
        ]
    )
    by_device = rows.group_by("sku", "device_id").agg(
        pl.col("category").min(), pl.col("views", "add_to_carts", "units_sold", "revenue").sum()
    )
    viewed = pl.col("views") > 0
    per_sku = by_device.group_by("sku").agg(
        pl.col("category").min(),
        pl.col("views").sum(),
        viewed.sum().alias("viewers"),
        pl.col("add_to_carts", "units_sold", "revenue").sum(),
        (viewed & (pl.col("units_sold") > 0)).sum().alias("viewers_who_bought"),
    )
    return (
        per_sku.sort(["revenue", "units_sold", "sku"], descending=[True, True, False])
        .with_row_index("rank", offset=1)
        .with_columns(
            view_to_purchase=pl.col("viewers_who_bought")
            / pl.when(pl.col("viewers") > 0).then(pl.col("viewers"))
        )
        .collect()
    )


def _totals(out: Path, events: int) -> dict:
    import duckdb

    con = duckdb.connect()

    def one(name: str, where: str, columns: str) -> list:
        sql = f"SELECT {columns} FROM '{out}/{name}.parquet' WHERE {where}"
        return [round(v, 2) if isinstance(v, float) else v for v in con.execute(sql).fetchone()]

    totals = named_totals(one)
    con.close()
    return {"events": events, **totals}
