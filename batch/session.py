"""The Spark session of a job, configured the way every transform assumes.

- ``spark.sql.session.timeZone=UTC``: transforms place instants with epoch arithmetic and
  explicit day bounds, never with the session zone, but UTC keeps printed values honest.
- Parquet timestamps written as TIMESTAMP_MICROS (Spark's default is the legacy INT96), the
  landed table's type, so pyarrow, DuckDB and compaction output agree with the lander.
- Adaptive execution on (the default), so small reports do not run 200 shuffle tasks, and
  allowed to coalesce the partitions of the cached day too.
- No window group limit (see SQL_CONF).
- The JVM's flags (JAVA_OPTIONS: garbage collector, inlining), when this process
  starts the JVM.
- Spark does not warn about the small unpartitioned windows in a job's session (only there).

Under spark-submit the master and resources come from its flags; ``--master`` (settings)
overrides them, and ``python -m batch.<job>`` without one runs on local[*].
"""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

from batch.settings import BatchSettings

# The JVM's flags for these jobs (JVM flags only apply when a JVM starts: ``python -m
# batch.<job>`` starts its own with them; under spark-submit they go on its command line:
# ``--driver-java-options`` (local mode: the executors live in the driver), and ``--conf
# spark.executor.extraJavaOptions=`` on a cluster, as the Makefile does). Both measured over the
# ten-million-event benchmark, in interleaved runs:
# - The throughput garbage collector. G1 (the JVM default) was 10-15 s slower (124 and 127 s
#   with G1, 111 and 106 s with this); likely because Spark's sort pages and cached column
#   buffers are large arrays, which G1 allocates as "humongous" objects. A batch job wants
#   throughput, not short pauses.
# - Shallower inlining than Java 17's defaults (MaxInlineLevel 15, InlineSmallCode 2500). Each
#   query brings new generated classes to compile: JFR counted 77 s of JIT compilation in a
#   106-s run, on 2 cores shared with the tasks. Pairs of runs: 105.0/103.8/104.3 s -> 102.3/
#   101.7/97.9 s (the benchmark), 106.4/107.0 s -> 97.5/99.0/96.4 s (a harness, same code).
#   And no inlining of hot methods over 100 bytes of bytecode (FreqInlineSize, 325 by default):
#   the JIT's CPU fell from 46.8-50.6 to 37.4-39.3 core-s a run, the tasks' stayed at 114.7-
#   122.2 core-s, and runs took 85.4/87.9/86.7 s against 91.5/90.9/95.2/92.5/88.9 s (all
#   interleaved; FreqInlineSize=150 was in between: JIT 40.3-43.0 core-s).
JAVA_OPTIONS = (
    "-XX:+UseParallelGC -XX:MaxInlineLevel=9 -XX:InlineSmallCode=1000 -XX:FreqInlineSize=100"
)

# Spark's logger of window operators (see _quiet_unpartitioned_windows).
WINDOW_LOGGER = "org.apache.spark.sql.execution.window.WindowExec"

SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.parquet.compression.codec": "zstd",
    # The cached day (batch/events.py) is built once and scanned by every report; compressing
    # it took 25 s for 10 million events where building it plain takes 14 s, and a day that
    # does not fit in memory spills to disk either way.
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
    # Adaptive execution may coalesce the shuffle partitions inside a cached plan. Otherwise
    # the cached day keeps spark.sql.shuffle.partitions partitions (200 by default), and a
    # small day pays for 200 tasks in every scan of it. Coalesced hash partitions still count
    # as partitioned by device, so the reports add no shuffle.
    "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
    # A generated method over 8,000 bytes of bytecode is never JIT-compiled by HotSpot
    # (HugeMethodLimit): it would run interpreted. Past that size Spark falls back to
    # per-operator code instead, as Spark's docs advise on HotSpot (65535 by default).
    "spark.sql.codegen.hugeMethodLimit": "8000",
    # The jobs name each data file of the day (batch/landed.py). Past 32 paths Spark lists
    # them with a Spark job of one task per path: 1.5 s for the benchmark day's 162 files on
    # local[2], against 0.4 s on the driver (a fresh JVM). A day's files are counted in
    # hundreds once its hours are compacted; the job is for thousands of folders.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "1024",
    # The dedup's row_number() = 1 would get a group limit before its shuffle: a sort of every
    # row for nothing, event_ids being nearly all distinct (about 10% slower, measured).
    "spark.sql.optimizer.windowGroupLimitThreshold": "-1",
}


def spark_session(settings: BatchSettings, app_name: str) -> SparkSession:
    builder = SparkSession.builder.appName(app_name)
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # no spark-submit: this process starts the JVM
        builder = builder.config("spark.driver.extraJavaOptions", JAVA_OPTIONS)
    if settings.master:
        builder = builder.master(settings.master)
    spark = builder.getOrCreate()
    configure(spark)
    _quiet_unpartitioned_windows(spark)
    return spark


def configure(spark: SparkSession) -> None:
    """Set what the jobs rely on, also on a session someone else created (tests, notebooks)."""
    for key, value in SQL_CONF.items():
        spark.conf.set(key, value)


def _quiet_unpartitioned_windows(spark: SparkSession) -> None:
    """The jobs' only windows without a partition run over one day's 1,440 minutes
    (cumulative sales) and its SKUs (the top products' rank): one partition is all they need,
    and Spark warned so for each of them, some twenty lines in every run's output. The price:
    a future window over all events without a partition would not be warned about either."""
    jvm = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        WINDOW_LOGGER, jvm.org.apache.logging.log4j.Level.ERROR
    )
