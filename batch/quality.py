"""Data-quality counts of one day's read: printed by every job and written to _quality/dt=.../.

One row per business day (every job of the day computes the same row from the same input):
- rows_read: rows in the files read (the day's folders and the margin hours);
- null_key_rows: rows of the day's own folders without event_id, type, event_time or
  device_id -- they cannot be deduplicated nor placed in a day, and are dropped;
- input_rows: rows with keys whose event_time is in the day (before deduplication);
- duplicates_removed: input_rows minus events (retried copies dropped);
- events: distinct events of the day, what every report counts;
- late_events: input rows read from an hour folder other than their event_time's UTC hour
  ("event day != landing hour"). The lander files by event_time, so this is 0 unless a file
  was published in the wrong folder: the reader still counts such rows on their true day;
- received_after_day: events of the day received after the day ended -- a report run at
  midnight missed them, a rerun counts them.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from batch.day import BusinessDay
from batch.events import LANDED_HOUR, has_keys, hour_index, in_day

COUNTS = (
    "rows_read",
    "null_key_rows",
    "input_rows",
    "duplicates_removed",
    "events",
    "late_events",
    "received_after_day",
)


def quality(rows: DataFrame, events: DataFrame, day: BusinessDay, files: int) -> DataFrame:
    """One row: the day, its zone, files_read and COUNTS (longs).

    ``rows``: DayEvents.rows, every row of the files read, with the hour of its folder.
    """
    landed = F.col(LANDED_HOUR)
    first_folder, end = day.hours()[0], day.end
    # The day's own folders: from its first hour's to the last one starting before it ends.
    own_folder = (landed >= _hours(first_folder)) & (landed * 3600 < int(end.timestamp()))
    kept = has_keys() & in_day(day)
    read = rows.agg(
        F.count(F.lit(1)).alias("rows_read"),
        F.count_if(~has_keys() & own_folder).alias("null_key_rows"),
        F.count_if(kept).alias("input_rows"),
        F.count_if(kept & (hour_index(F.col("event_time")) != landed)).alias("late_events"),
    )
    counted = events.agg(
        F.count(F.lit(1)).alias("events"),
        F.count_if(F.col("received_at") >= F.lit(end)).alias("received_after_day"),
    )
    return read.join(counted, how="cross").select(
        F.lit(day.date).alias("date"),
        F.lit(day.tz).alias("tz"),
        F.lit(files).cast("long").alias("files_read"),
        "rows_read",
        "null_key_rows",
        "input_rows",
        (F.col("input_rows") - F.col("events")).alias("duplicates_removed"),
        "events",
        "late_events",
        "received_after_day",
    )


def _hours(instant: dt.datetime) -> int:
    """Whole hours since the epoch, as events.hour_index."""
    return int(instant.timestamp()) // 3600


def describe(row: dict) -> str:
    """The printed form: ``quality 2026-11-11 Asia/Shanghai: files_read=12 rows_read=...``."""
    counts = " ".join(f"{k}={row[k]}" for k in ("files_read", *COUNTS))
    return f"quality {row['date']} {row['tz']}: {counts}"
