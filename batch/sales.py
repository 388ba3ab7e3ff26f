"""Sales: sales_daily and sales_minute (definitions in batch/orders.py and batch/README.md)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from batch.day import BusinessDay
from batch.dims import with_totals
from batch.minutes import minute_grid, minute_of
from batch.orders import PAYMENT, REFUND

DIMS = ["category", "platform"]
MONEY_SUM = "decimal(28,4)"  # what Spark's sum of decimal(18,4) gives: exact


def sales_daily(money: DataFrame) -> DataFrame:
    """By category and platform, with totals: paid GMV, orders, buyers, AOV, refunds, net.

    ``money``: the day's ``orders.money_lines``.
    """
    paid, refunded = F.col("kind") == PAYMENT, F.col("kind") == REFUND
    daily = with_totals(
        money,
        DIMS,
        _money(F.sum(F.when(paid, F.col("amount")))).alias("gmv"),
        F.count_distinct(F.when(paid, F.col("order_id"))).alias("paid_orders"),
        F.count_distinct(F.when(paid, F.col("buyer"))).alias("buyers"),
        F.count_distinct(F.when(refunded, F.col("order_id"))).alias("refunded_orders"),
        _money(F.sum(F.when(refunded, F.col("amount")))).alias("refund_amount"),
    )
    return daily.select(
        *DIMS,
        "gmv",
        "paid_orders",
        "buyers",
        # null, not 0, without paid orders
        F.round(F.try_divide(F.col("gmv"), F.col("paid_orders")), 4)
        .cast(MONEY_SUM)
        .alias("average_order_value"),
        "refunded_orders",
        "refund_amount",
        _money(F.col("gmv") - F.col("refund_amount")).alias("net_revenue"),
    )


def sales_minute(payments: DataFrame, day: BusinessDay) -> DataFrame:
    """Every minute of the day: paid GMV and paid orders in it, and cumulated since midnight.

    ``payments``: the day's ``orders.first_payments``.
    """
    per_minute = (
        payments.withColumn("minute", minute_of("paid_at"))
        .groupBy("minute")
        .agg(F.sum("amount").alias("gmv"), F.count(F.lit(1)).alias("paid_orders"))
    )
    filled = minute_grid(payments.sparkSession, day).join(per_minute, on="minute", how="left")
    # 1440 rows: one window partition is fine.
    so_far = Window.orderBy("minute").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    gmv, orders = _money(F.coalesce("gmv", F.lit(0))), F.coalesce("paid_orders", F.lit(0))
    return filled.select(
        "minute",
        "minute_of_day",
        gmv.alias("gmv"),
        orders.alias("paid_orders"),
        _money(F.sum(gmv).over(so_far)).alias("cumulative_gmv"),
        F.sum(orders).over(so_far).alias("cumulative_paid_orders"),
    )


def _money(value: Column) -> Column:
    """Money totals: zero rather than null, as decimal(28,4)."""
    return F.coalesce(value, F.lit(0)).cast(MONEY_SUM)
