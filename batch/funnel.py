"""funnel_daily: devices at each step of product_view -> ... -> payment_succeeded, in order.

A device reaches a step when it has that step's event at or after the time it reached the
previous one (the first step: its first product_view of the day). A device belongs to the
platform and campaign source of that first product_view.
"""

from __future__ import annotations

import itertools

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from batch.dims import dim, ratio, with_totals

STEPS = ("product_view", "add_to_cart", "begin_checkout", "order_placed", "payment_succeeded")
DIMS = ["platform", "campaign_source"]


def funnel_devices(events: DataFrame) -> DataFrame:
    """One row per device with a product_view: platform, campaign_source, reached_<step>s."""
    is_entry = F.col("type") == STEPS[0]
    entry_order = F.when(is_entry, F.struct("event_time", "event_id"))
    per_device = (
        events.filter(F.col("type").isin(*STEPS))
        .groupBy("device_id")
        .agg(
            F.min_by(dim("platform"), entry_order).alias("platform"),
            F.min_by(dim("campaign_source"), entry_order).alias("campaign_source"),
            *(_times(step) for step in STEPS),
        )
        .filter(F.size(F.col(f"times_{STEPS[0]}")) > 0)
    )
    reached, previous = [], None
    for step in STEPS:
        at = _first_at_or_after(F.col(f"times_{step}"), previous)
        reached.append(at)
        previous = at
    return per_device.select(
        "device_id",
        *DIMS,
        *(at.isNotNull().alias(f"reached_{step}") for step, at in zip(STEPS, reached, strict=True)),
    )


def funnel_daily(events: DataFrame) -> DataFrame:
    """By platform and campaign source, with totals: <step>_devices and step conversions."""
    counts = with_totals(
        funnel_devices(events),
        DIMS,
        *(F.count_if(f"reached_{step}").alias(f"{step}_devices") for step in STEPS),
    )
    conversions = [
        ratio(f"{step}_devices", f"{before}_devices").alias(f"{step}_conversion")
        for before, step in itertools.pairwise(STEPS)
    ]
    overall = ratio(f"{STEPS[-1]}_devices", f"{STEPS[0]}_devices").alias("overall_conversion")
    return counts.select(*DIMS, *(f"{s}_devices" for s in STEPS), *conversions, overall)


def _times(step: str) -> Column:
    """The device's event times of one step (collect_list skips the other steps' nulls)."""
    return F.collect_list(F.when(F.col("type") == step, F.col("event_time"))).alias(f"times_{step}")


def _first_at_or_after(times: Column, previous: Column | None) -> Column:
    """The earliest of ``times`` at or after ``previous`` (null: the step was not reached)."""
    if previous is None:
        return F.array_min(times)
    return F.array_min(F.filter(times, lambda t: t >= previous))
