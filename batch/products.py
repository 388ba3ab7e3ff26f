"""top_products: per SKU, views, add-to-carts, units sold, revenue, view -> purchase conversion.

- views / add_to_carts: product_view / add_to_cart events of the SKU;
- units_sold / revenue: the SKU's lines of the day's paid orders (batch/orders.py), revenue
  being the paid amount allocated to those lines (so the SKUs add up to GMV, less orders
  placed on an earlier day, whose lines are unknown);
- view_to_purchase: of the devices that viewed the SKU, the share that placed a paid order
  holding it;
- rank: by revenue, then units sold, then SKU (1 = best).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from batch.dims import ratio
from batch.orders import PAYMENT

VIEW, CART = "product_view", "add_to_cart"


def top_products(events: DataFrame, money: DataFrame) -> DataFrame:
    """``events``: the day's events; ``money``: their ``orders.money_lines``."""
    zero = F.lit(0)
    browsing = events.filter(F.col("type").isin(VIEW, CART) & F.col("sku").isNotNull()).select(
        "sku",
        "category",
        "device_id",
        (F.col("type") == VIEW).cast("long").alias("views"),
        (F.col("type") == CART).cast("long").alias("add_to_carts"),
        zero.cast("long").alias("units_sold"),
        zero.cast("decimal(18,4)").alias("revenue"),
    )
    sold = money.filter((F.col("kind") == PAYMENT) & F.col("sku").isNotNull()).select(
        "sku",
        "category",
        F.col("order_device").alias("device_id"),
        zero.cast("long").alias("views"),
        zero.cast("long").alias("add_to_carts"),
        F.col("quantity").cast("long").alias("units_sold"),
        F.col("amount").alias("revenue"),
    )
    rows = browsing.unionByName(sold)
    # Only numbers are summed per (sku, device): a hash aggregation. A SKU's category (a
    # string: min() of it would sort every row) comes from its few (sku, category) pairs.
    by_device = rows.groupBy("sku", "device_id").agg(
        F.sum("views").alias("views"),
        F.sum("add_to_carts").alias("add_to_carts"),
        F.sum("units_sold").alias("units_sold"),
        F.sum("revenue").alias("revenue"),
    )
    pairs = rows.select("sku", "category").distinct()
    categories = pairs.groupBy("sku").agg(F.min("category").alias("category"))
    viewed, bought = F.col("views") > 0, F.col("units_sold") > 0
    per_sku = by_device.groupBy("sku").agg(
        F.sum("views").alias("views"),
        F.count_if(viewed).alias("viewers"),
        F.sum("add_to_carts").alias("add_to_carts"),
        F.sum("units_sold").alias("units_sold"),
        F.sum("revenue").cast("decimal(28,4)").alias("revenue"),
        F.count_if(viewed & bought).alias("viewers_who_bought"),
    )
    per_sku = per_sku.join(categories, "sku")
    best = Window.orderBy(F.col("revenue").desc(), F.col("units_sold").desc(), F.col("sku"))
    return per_sku.select(
        F.row_number().over(best).alias("rank"),
        "sku",
        "category",
        "views",
        "viewers",
        "add_to_carts",
        "units_sold",
        "revenue",
        "viewers_who_bought",
        ratio("viewers_who_bought", "viewers").alias("view_to_purchase"),
    )
