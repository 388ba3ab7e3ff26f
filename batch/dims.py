"""Report dimensions and their totals, the same way in every report.

A dimension column is never null in a report: ``(none)`` when the events did not say (no
platform, no campaign), ``(all)`` on the total rows. Totals come from ``cube``: every
combination of the dimensions, each one also summed over.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

NONE = "(none)"
ALL = "(all)"


def dim(name: str) -> Column:
    """The event's value of a dimension, ``(none)`` when missing."""
    return F.coalesce(F.col(name), F.lit(NONE))


def with_totals(rows: DataFrame, dims: list[str], *aggs: Column) -> DataFrame:
    """``aggs`` by every combination of ``dims`` and their totals; rows' dims are never null."""
    cubed = rows.cube(*dims).agg(*aggs)
    return cubed.select(
        *(F.coalesce(F.col(d), F.lit(ALL)).alias(d) for d in dims),
        *(c for c in cubed.columns if c not in dims),
    )


def ratio(numerator: str, denominator: str) -> Column:
    """numerator / denominator as a double; null when the denominator is 0."""
    return F.try_divide(F.col(numerator).cast("double"), F.col(denominator).cast("double"))


def first_by_time(value: Column | str) -> Column:
    """The value of the earliest event of a group (ties: the smaller event_id)."""
    return F.min_by(value, F.struct("event_time", "event_id"))
