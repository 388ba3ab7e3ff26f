"""Traffic: sessions, traffic_daily and traffic_minute (definitions in batch/README.md).

- A session is the client's ``session_id`` of a device; events without one are cut into
  sessions per device by 30 minutes of inactivity.
- A session belongs to the platform and campaign source of its first event, and to the first
  user_id seen in it.
- A bounce is a session of exactly one event, a page_view.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from batch.day import BusinessDay
from batch.dims import dim, first_by_time, ratio, with_totals
from batch.minutes import minute_grid, minute_of

SESSION_GAP_S = 30 * 60
DIMS = ["platform", "campaign_source"]
PAGE_VIEW = "page_view"
SESSION = ["device_id", "session_id", "session_start"]  # what identifies a session


def session_keys(events: DataFrame) -> DataFrame:
    """events + ``session_start``: null with a client session_id (the session is the device's
    session_id), else the µs of the first event of the inferred session. Kept as columns, not
    concatenated into one key string: grouping on them is cheaper."""
    with_id = events.filter(F.col("session_id").isNotNull()).withColumn(
        "session_start", F.lit(None).cast("long")
    )
    without = events.filter(F.col("session_id").isNull())
    by_device = Window.partitionBy("device_id").orderBy("event_time", "event_id")
    micros = F.unix_micros("event_time")
    gap = micros - F.lag(micros).over(by_device)
    starts_session = gap.isNull() | (gap > SESSION_GAP_S * 1_000_000)
    # A session's key is its first event's time: the same whatever else the day holds.
    start = F.max(F.when(F.col("_starts"), micros)).over(
        by_device.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    inferred = (
        without.withColumn("_starts", starts_session)
        .withColumn("session_start", start)
        .drop("_starts")
    )
    return with_id.unionByName(inferred)


def sessions(events: DataFrame) -> DataFrame:
    """One row per session: SESSION, first platform/campaign/user, page views, events."""
    is_page_view = F.col("type") == PAGE_VIEW
    return (
        session_keys(events)
        .groupBy(*SESSION)
        .agg(
            first_by_time(dim("platform")).alias("platform"),
            first_by_time(dim("campaign_source")).alias("campaign_source"),
            F.min_by("user_id", F.when(F.col("user_id").isNotNull(), _time_order())).alias(
                "user_id"
            ),
            F.count_if(is_page_view).alias("page_views"),
            F.count(F.lit(1)).alias("events"),
        )
    )


def traffic_daily(events: DataFrame) -> DataFrame:
    """By platform and campaign source, with totals: page views, devices, users, sessions..."""
    bounce = (F.col("events") == 1) & (F.col("page_views") == 1)
    # Sessions summed per device and user first: the totals' distinct counts then expand
    # ~one row per device instead of one per session.
    per_device = (
        sessions(events)
        .groupBy(*DIMS, "device_id", "user_id")
        .agg(
            F.sum("page_views").alias("page_views"),
            F.count(F.lit(1)).alias("sessions"),
            F.count_if(bounce).alias("bounces"),
        )
    )
    daily = with_totals(
        per_device,
        DIMS,
        F.sum("page_views").alias("page_views"),
        F.count_distinct("device_id").alias("unique_devices"),
        F.count_distinct("user_id").alias("unique_users"),
        F.sum("sessions").alias("sessions"),
        F.sum("bounces").alias("bounces"),
    )
    return daily.select(
        *DIMS,
        "page_views",
        "unique_devices",
        "unique_users",
        "sessions",
        "bounces",
        ratio("bounces", "sessions").alias("bounce_rate"),
        ratio("page_views", "sessions").alias("pages_per_session"),
    )


def traffic_minute(events: DataFrame, day: BusinessDay) -> DataFrame:
    """Every minute of the day: page views and unique devices (of any event) in it."""
    per_minute = (
        events.withColumn("minute", minute_of("event_time"))
        .groupBy("minute")
        .agg(
            F.count_if(F.col("type") == PAGE_VIEW).alias("page_views"),
            F.count_distinct("device_id").alias("unique_devices"),
        )
    )
    grid = minute_grid(events.sparkSession, day)
    return grid.join(per_minute, on="minute", how="left").select(
        "minute",
        "minute_of_day",
        F.coalesce("page_views", F.lit(0)).alias("page_views"),
        F.coalesce("unique_devices", F.lit(0)).alias("unique_devices"),
    )


def _time_order() -> Column:
    return F.struct("event_time", "event_id")
