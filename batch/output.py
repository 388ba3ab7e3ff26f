"""Publish one day of a report: ``<reports>/<name>/dt=YYYY-MM-DD/``, replaced whole or not at all.

1. Write the new partition beside it, under a hidden name (``_staging-...``; Spark, pyarrow
   and DuckDB globs skip names starting with ``_``), and let Spark finish its job commit.
2. Rename the live partition aside (``_replaced-...``), rename the staged one into place, then
   delete the old one. A failed second rename puts the old one back.

Why not Spark's dynamic partition overwrite: its job commit deletes the live partition and then
renames the staged files in -- a failure in between loses the day, and nothing checks the
renames. Here the old partition is only removed once the new one is in place.

What a reader sees: each rename is atomic on HDFS, so a reader listing the partition sees the
old files or the new ones, never a mix; in the instant between the two renames the partition
is absent (a dashboard shows no data for that day for a moment, never wrong data). A reader
that listed the old files and reads them after the swap fails loudly (file not found) rather
than mixing versions. Names of hidden folders never contain '=': Spark would take
``_x-dt=...`` for a partition.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pyspark.sql import DataFrame

from batch.hadoop import FsError, HadoopFs


def partition_path(root: str, name: str, date: dt.date) -> str:
    return f"{root.rstrip('/')}/{name}/dt={date.isoformat()}"


def publish(df: DataFrame, root: str, name: str, date: dt.date, order: list[str]) -> str:
    """Write ``df`` (sorted by ``order``, one file) as the day's partition of report ``name``."""
    fs = HadoopFs(df.sparkSession, root)
    final = fs.qualify(partition_path(root, name, date))
    parent = final.rsplit("/", 1)[0]
    token = f"{date.isoformat()}-{uuid.uuid4().hex[:12]}"
    staged, aside = f"{parent}/_staging-{token}", f"{parent}/_replaced-{token}"
    (
        df.repartition(1)
        .sortWithinPartitions(*order)
        .write.mode("errorifexists")
        .option("compression", "zstd")
        .parquet(staged)
    )
    swap(fs, staged, final, aside)
    return final


def swap(fs: HadoopFs, staged: str, final: str, aside: str) -> None:
    """Put ``staged`` at ``final``; the folder that was there is deleted once replaced."""
    replaced = fs.exists(final)
    if replaced:
        fs.rename(final, aside)
    try:
        fs.rename(staged, final)  # fails if someone re-created `final` meanwhile
    except FsError:
        if replaced:
            fs.rename(aside, final)
        fs.delete(staged, recursive=True)
        raise
    if replaced:
        fs.delete(aside, recursive=True)
