"""Orders and money: first payments, order lines, and money split over the lines it paid for.

- A paid order is an order_id with a payment_succeeded event on the day; its paid amount is
  the amount of its first payment event (a second confirmation of the same order is not a
  second sale).
- An order's lines are the items of its first order_placed event of the day. An order placed
  on an earlier day has no known lines: its money goes to category ``(unknown)``, no SKU.
- Money of a payment or a refund is split over its order's lines pro rata to their value
  (price x quantity), rounded to the money scale by cumulative rounding: each line gets
  round(amount x value up to it / total) - round(amount x value before it / total), so the
  lines of one payment add up to exactly its amount. Lines worth 0 in total: all to the first.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from batch.dims import NONE, dim, first_by_time

PAYMENT = "payment_succeeded"
REFUND = "refund"
ORDER = "order_placed"
UNKNOWN_CATEGORY = "(unknown)"
MONEY = "decimal(18,4)"  # the landed table's money type
LINE_VALUE = "decimal(24,4)"  # up to 500 lines x 10^12 x 100000 units fits


def buyer() -> Column:
    """Who bought: the user when logged in, else the device."""
    return F.coalesce(F.col("user_id"), F.concat(F.lit("device:"), F.col("device_id")))


def first_payments(events: DataFrame) -> DataFrame:
    """One row per paid order: order_id, event_id, paid_at, amount, platform, device, buyer."""
    payment = F.struct(
        F.col("event_id"),
        F.col("event_time").alias("paid_at"),
        F.col("amount"),
        dim("platform").alias("platform"),
        F.col("device_id"),
        buyer().alias("buyer"),
    )
    return (
        events.filter((F.col("type") == PAYMENT) & F.col("order_id").isNotNull())
        .groupBy("order_id")
        .agg(first_by_time(payment).alias("p"))
        .select("order_id", "p.*")
    )


def order_lines(events: DataFrame) -> DataFrame:
    """One row per line of each order placed on the day: order_id, line, sku, category,
    quantity, value (price x quantity), order_device (who placed it)."""
    first_order = F.struct(F.col("items"), F.col("device_id"))
    orders = (
        events.filter((F.col("type") == ORDER) & F.col("order_id").isNotNull())
        .groupBy("order_id")
        .agg(first_by_time(first_order).alias("o"))
    )
    lines = orders.select(
        "order_id",
        F.col("o.device_id").alias("order_device"),
        F.posexplode("o.items").alias("line", "item"),
    )
    return lines.select(
        "order_id",
        "line",
        F.col("item.sku").alias("sku"),
        F.coalesce("item.category", F.lit(NONE)).alias("category"),
        F.col("item.quantity").alias("quantity"),
        (F.col("item.price") * F.col("item.quantity")).cast(LINE_VALUE).alias("value"),
        "order_device",
    )


def money_lines(events: DataFrame, payments: DataFrame | None = None) -> DataFrame:
    """Paid and refunded money of the day, split over order lines.

    Columns: kind (payment|refund), event_id, order_id, event_time, platform, buyer, line,
    sku, category, quantity, order_device, amount (this line's share, decimal(18,4)).
    ``payments``: ``first_payments(events)``, when already at hand.
    """
    payments = (first_payments(events) if payments is None else payments).select(
        F.lit(PAYMENT).alias("kind"),
        "event_id",
        "order_id",
        F.col("paid_at").alias("event_time"),
        "platform",
        "buyer",
        F.col("amount").alias("total"),
    )
    refunds = events.filter(
        (F.col("type") == REFUND) & F.col("order_id").isNotNull() & F.col("amount").isNotNull()
    ).select(
        F.lit(REFUND).alias("kind"),
        "event_id",
        "order_id",
        "event_time",
        dim("platform").alias("platform"),
        buyer().alias("buyer"),
        F.col("amount").alias("total"),
    )
    money = payments.filter(F.col("total").isNotNull()).unionByName(refunds)
    return allocate(money.join(order_lines(events), on="order_id", how="left"))


def allocate(money: DataFrame) -> DataFrame:
    """Each money event's ``total`` split over its lines (see the module docstring)."""
    lines = Window.partitionBy("event_id").orderBy("line")
    whole = Window.partitionBy("event_id")
    running = F.sum("value").over(lines.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    upto = F.coalesce(running, F.lit(0))
    before = F.coalesce(upto - F.coalesce("value", F.lit(0)), F.lit(0))
    all_value = F.sum("value").over(whole)
    has_value = all_value.isNotNull() & (all_value > 0)
    share = F.round(F.try_divide(F.col("total") * upto, all_value), 4) - F.round(
        F.try_divide(F.col("total") * before, all_value), 4
    )
    # No known lines (null line) or lines worth nothing: everything on the first line.
    rest = F.when(F.coalesce(F.col("line"), F.lit(0)) == 0, F.col("total")).otherwise(F.lit(0))
    return money.select(
        "kind",
        "event_id",
        "order_id",
        "event_time",
        "platform",
        "buyer",
        "line",
        "sku",
        F.coalesce("category", F.lit(UNKNOWN_CATEGORY)).alias("category"),
        "quantity",
        "order_device",
        F.when(has_value, share).otherwise(rest).cast(MONEY).alias("amount"),
    )
