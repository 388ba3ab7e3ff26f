"""Minutes of a business day: the grid every per-minute report fills, zeros included.

``minute`` is the minute's first instant (a UTC timestamp, shown in any zone by the reader);
``minute_of_day`` counts minutes since the day's local midnight (0..1439; a daylight-saving
day has 1380 or 1500). Both come from epoch arithmetic, so the Spark session time zone plays
no part.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from batch.day import BusinessDay


def minute_of(column: str) -> Column:
    """The minute (first instant) of a timestamp column."""
    seconds = F.unix_seconds(F.col(column))
    return F.timestamp_seconds(seconds - F.pmod(seconds, F.lit(60)))


def minute_grid(spark: SparkSession, day: BusinessDay) -> DataFrame:
    """One row per minute of the day: minute, minute_of_day."""
    minutes = int((day.end - day.start).total_seconds()) // 60
    first = int(day.start.timestamp())
    return spark.range(minutes, numPartitions=1).select(
        F.timestamp_seconds(F.lit(first) + F.col("id") * 60).alias("minute"),
        F.col("id").cast("int").alias("minute_of_day"),
    )
