"""The report jobs end to end: the landed day of conftest.py on HDFS -> main(argv) -> Parquet.

Every expected number is worked out by hand from conftest.FILES. Business day 2026-11-11:
in Asia/Shanghai [2026-11-10T16:00Z, 2026-11-11T16:00Z), in UTC [2026-11-11T00:00Z, +24 h).

Shanghai's day holds 25 events (after deduplication) from 6 devices:
  d1 web/weibo u1   s1: e01 pv, e02 view LIP, e03 cart, e04 checkout, e05 order O1 (800),
                        e06 payment O1 (+ a retried copy); s1b: e07 refund O1 199 (02:00Z)
  d2 ios u2         s2: e08 view SER, e09 cart, e10 order O2, e11 payment O2 459.5, e12 2nd payment
  d3 android/douyin s3: e13 pv (a bounce); s4: e23 cart LIP (before any view), e14 view LIP,
                        e15 pv (+ a retried copy in the same file), e16 pv (late, hour-06 folder)
  d4 web/weibo      no session id: [e17 pv, e18 pv] [e19 pv: a bounce] [e20 view LIP]
  d5 no context     s5: b02 pv (16:00:00.000Z), b03 pv, b04 pv (15:59:59.999999Z)
  d6 web u6         s6: e21 payment O3 100 (O3 was placed the day before: lines unknown)
Not in it: b01, l02, x01 (its first copy was received before midnight), e22, b05-b07.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from batch import (
    funnel_daily,
    reports,
    sales_daily,
    sales_minute,
    top_products,
    traffic_daily,
    traffic_minute,
)

REPO = Path(__file__).resolve().parents[2]
DATE = "2026-11-11"
ALL, NONE = "(all)", "(none)"
D = Decimal
JOBS = {
    "traffic_daily": traffic_daily,
    "traffic_minute": traffic_minute,
    "funnel_daily": funnel_daily,
    "sales_daily": sales_daily,
    "sales_minute": sales_minute,
    "top_products": top_products,
}


def args(landed, reports_root: str, tz: str = "Asia/Shanghai") -> list[str]:
    return ["--date", DATE, "--tz", tz, "--events", landed.events, "--reports", reports_root]


@pytest.fixture(scope="module")
def shanghai(spark, landed) -> str:
    """Every report of Shanghai's day, written once by batch/reports.py."""
    root = f"{landed.reports}/shanghai"
    assert reports.main(args(landed, root)) == 0
    return root


@pytest.fixture(scope="module")
def utc(spark, landed) -> str:
    root = f"{landed.reports}/utc"
    assert reports.main(args(landed, root, tz="UTC")) == 0
    return root


def by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in rows}


def without(row: dict, *keys: str) -> dict:
    return {k: v for k, v in row.items() if k not in keys}


# -- data quality -----------------------------------------------------------------------------


def test_quality_counts_of_the_shanghai_day(shanghai, read_report):
    [row] = read_report("_quality", DATE, shanghai)
    assert without(row, "date") == {
        "tz": "Asia/Shanghai",
        "files_read": 18,  # 20 published files, less dt=11-11/hr=23 and dt=11-12/hr=00; no junk
        "rows_read": 34,  # every row of those files, margin hours 11-10/15 and 11-11/16 included
        "null_key_rows": 1,  # the row without event_id (11-11/03)
        "input_rows": 28,  # 25 events + e06's retry + e15's retry + x01's second copy
        "duplicates_removed": 3,
        "events": 25,
        "late_events": 1,  # e16: 05:59:59.5 in the hour-06 folder
        "received_after_day": 1,  # e16 again: received 16:30Z, after Shanghai's midnight
    }
    assert str(row["date"]) == DATE


def test_quality_counts_of_the_utc_day(utc, read_report):
    [row] = read_report("_quality", DATE, utc)
    assert without(row, "date") == {
        "tz": "UTC",
        "files_read": 12,  # folders 11-10/23 .. 11-12/00
        "rows_read": 16,
        "null_key_rows": 1,
        # e07 e14 e15 e16 e17 e18 e19 e20 e23 b03 b04 b05 b06 + e15's retry
        "input_rows": 14,
        "duplicates_removed": 1,
        "events": 13,
        "late_events": 1,
        "received_after_day": 0,  # e16 came at 16:30Z, before UTC midnight
    }


# -- traffic ----------------------------------------------------------------------------------


def test_traffic_daily(shanghai, read_report):
    rows = by(read_report("traffic_daily", DATE, shanghai), "platform", "campaign_source")
    columns = ("page_views", "unique_devices", "unique_users", "sessions", "bounces")
    got = {key: tuple(row[c] for c in columns) for key, row in rows.items()}
    assert got == {
        # sessions: d1 s1 s1b, d4 x3 | bounces: d4's lone e19 | page views e01 e17 e18 e19
        ("web", "weibo"): (4, 2, 1, 5, 1),
        ("web", NONE): (0, 1, 1, 1, 0),  # d6
        ("ios", NONE): (0, 1, 1, 1, 0),  # d2: views, no page_view
        ("android", "douyin"): (3, 1, 0, 2, 1),  # d3: s3 a bounce, s4 two page views
        (NONE, NONE): (3, 1, 0, 1, 0),  # d5: b02 b03 b04 in one session
        ("web", ALL): (4, 3, 2, 6, 1),
        ("ios", ALL): (0, 1, 1, 1, 0),
        ("android", ALL): (3, 1, 0, 2, 1),
        (NONE, ALL): (3, 1, 0, 1, 0),
        (ALL, "weibo"): (4, 2, 1, 5, 1),
        (ALL, NONE): (3, 3, 2, 3, 0),
        (ALL, "douyin"): (3, 1, 0, 2, 1),
        (ALL, ALL): (10, 6, 3, 10, 2),
    }
    total = rows[(ALL, ALL)]
    assert (total["bounce_rate"], total["pages_per_session"]) == (2 / 10, 10 / 10)
    web = rows[("web", ALL)]
    assert (web["bounce_rate"], web["pages_per_session"]) == (1 / 6, 4 / 6)


def test_traffic_daily_of_the_utc_day(utc, read_report):
    rows = by(read_report("traffic_daily", DATE, utc), "platform", "campaign_source")
    total = rows[(ALL, ALL)]
    # d1 s1b; d3 s4 (e23 e14 e15 e16); d4's three; d5 s5 (b03 b04 b05 b06)
    assert (total["page_views"], total["sessions"], total["unique_devices"]) == (9, 6, 4)
    assert (total["unique_users"], total["bounces"]) == (1, 1)


def test_traffic_minute(spark, shanghai, read_report):
    rows = read_report("traffic_minute", DATE, shanghai)
    assert len(rows) == 1440
    assert [r["minute_of_day"] for r in rows] == list(range(1440))  # written in minute order
    busy = {r["minute_of_day"]: (r["page_views"], r["unique_devices"]) for r in rows}
    busy = {m: v for m, v in busy.items() if v != (0, 0)}
    assert busy == {
        0: (3, 3),  # 16:00Z: b02 e01 e13 page views; d1 d3 d5
        1: (0, 1),
        2: (0, 1),
        3: (0, 1),
        5: (0, 1),
        10: (0, 1),  # d2's views, cart, order, payments; d6's payment
        480: (1, 1),  # b03 at 00:00Z
        540: (1, 1),
        550: (1, 1),
        590: (1, 1),  # e17 e18 e19
        600: (0, 1),  # e07 refund
        660: (0, 1),  # e20
        720: (0, 1),  # e23
        780: (0, 1),  # e14
        781: (1, 1),  # e15
        839: (1, 1),  # e16 (late, counted on its own minute)
        1439: (1, 1),  # b04, the day's last microsecond
    }
    first = spark.read.parquet(f"{shanghai}/traffic_minute/dt={DATE}").selectExpr(
        "min(unix_seconds(minute)) AS s"
    )
    assert first.first()["s"] == 1794326400  # 2026-11-10T16:00:00Z, Shanghai's midnight


# -- funnel -----------------------------------------------------------------------------------


def test_funnel_daily(shanghai, read_report):
    rows = by(read_report("funnel_daily", DATE, shanghai), "platform", "campaign_source")
    steps = ("product_view", "add_to_cart", "begin_checkout", "order_placed", "payment_succeeded")
    got = {key: tuple(row[f"{s}_devices"] for s in steps) for key, row in rows.items()}
    assert got == {
        # d1 went all the way; d4 only viewed
        ("web", "weibo"): (2, 1, 1, 1, 1),
        # d2 carted but never began a checkout: its order and payment are not funnel steps
        ("ios", NONE): (1, 1, 0, 0, 0),
        # d3 carted before its first product view: that cart does not count
        ("android", "douyin"): (1, 0, 0, 0, 0),
        ("web", ALL): (2, 1, 1, 1, 1),
        ("ios", ALL): (1, 1, 0, 0, 0),
        ("android", ALL): (1, 0, 0, 0, 0),
        (ALL, "weibo"): (2, 1, 1, 1, 1),
        (ALL, NONE): (1, 1, 0, 0, 0),
        (ALL, "douyin"): (1, 0, 0, 0, 0),
        (ALL, ALL): (4, 2, 1, 1, 1),
    }
    total = rows[(ALL, ALL)]
    assert [total[f"{s}_conversion"] for s in steps[1:]] == [0.5, 0.5, 1.0, 1.0]
    assert total["overall_conversion"] == 0.25
    ios = rows[("ios", NONE)]
    assert [ios[f"{s}_conversion"] for s in steps[1:]] == [1.0, 0.0, None, None]


# -- sales ------------------------------------------------------------------------------------

# O1 (d1, web): lines LIP-RED 199 x 2 = 398 and SER-30 459.5, worth 857.5; paid 800, refunded 199.
#   payment: lipstick round(800 x 398 / 857.5, 4) = 371.3120, serum 800 - 371.3120 = 428.6880
#   refund:  lipstick round(199 x 398 / 857.5, 4) = 92.3638,  serum 199 - 92.3638 = 106.6362
# O2 (d2, ios): serum 459.5, paid once (its second payment event is ignored).
# O3 (d6, web): paid 100, placed the day before: category "(unknown)".
SALES = {
    # (category, platform): gmv, paid orders, buyers, AOV, refunded orders, refunds, net
    ("lipstick", "web"): ("371.3120", 1, 1, "371.3120", 1, "92.3638", "278.9482"),
    ("serum", "web"): ("428.6880", 1, 1, "428.6880", 1, "106.6362", "322.0518"),
    ("serum", "ios"): ("459.5", 1, 1, "459.5", 0, "0", "459.5"),
    ("(unknown)", "web"): ("100", 1, 1, "100", 0, "0", "100"),
    ("lipstick", ALL): ("371.3120", 1, 1, "371.3120", 1, "92.3638", "278.9482"),
    ("serum", ALL): ("888.1880", 2, 2, "444.0940", 1, "106.6362", "781.5518"),
    ("(unknown)", ALL): ("100", 1, 1, "100", 0, "0", "100"),
    (ALL, "web"): ("900", 2, 2, "450", 1, "199", "701"),
    (ALL, "ios"): ("459.5", 1, 1, "459.5", 0, "0", "459.5"),
    # AOV 1359.5 / 3 = 453.16666... -> 453.1667
    (ALL, ALL): ("1359.5", 3, 3, "453.1667", 1, "199", "1160.5"),
}
SALES_COLUMNS = (
    "gmv",
    "paid_orders",
    "buyers",
    "average_order_value",
    "refunded_orders",
    "refund_amount",
    "net_revenue",
)


def test_sales_daily(shanghai, read_report):
    rows = by(read_report("sales_daily", DATE, shanghai), "category", "platform")
    got = {key: tuple(row[c] for c in SALES_COLUMNS) for key, row in rows.items()}
    expected = {
        key: tuple(D(v) if isinstance(v, str) else v for v in values)
        for key, values in SALES.items()
    }
    assert got == expected


def test_sales_daily_of_the_utc_day_has_only_the_refund(utc, read_report):
    rows = by(read_report("sales_daily", DATE, utc), "category", "platform")
    # O1 was placed and paid on 11-10 UTC: its lines are unknown on 11-11, no GMV, net -199.
    assert set(rows) == {("(unknown)", "web"), ("(unknown)", ALL), (ALL, "web"), (ALL, ALL)}
    total = rows[(ALL, ALL)]
    assert tuple(total[c] for c in SALES_COLUMNS) == (D(0), 0, 0, None, 1, D(199), D(-199))


def test_sales_minute(shanghai, read_report):
    rows = read_report("sales_minute", DATE, shanghai)
    assert len(rows) == 1440
    sold = {r["minute_of_day"]: (r["gmv"], r["paid_orders"]) for r in rows if r["paid_orders"]}
    assert sold == {0: (D(800), 1), 3: (D("459.5"), 1), 10: (D(100), 1)}
    cumulative = {
        r["minute_of_day"]: (r["cumulative_gmv"], r["cumulative_paid_orders"]) for r in rows
    }
    assert cumulative[2] == (D(800), 1)
    assert cumulative[3] == (D("1259.5"), 2)
    assert cumulative[1439] == (D("1359.5"), 3)  # the day's GMV, as in sales_daily


def test_top_products(shanghai, read_report):
    rows = read_report("top_products", DATE, shanghai)
    assert rows == [
        {
            "rank": 1,
            "sku": "SER-30",
            "category": "serum",
            "views": 1,
            "viewers": 1,
            "add_to_carts": 1,
            "units_sold": 2,  # O1 and O2
            "revenue": D("888.1880"),  # 428.6880 + 459.5
            "viewers_who_bought": 1,  # d2; d1 bought it without viewing it
            "view_to_purchase": 1.0,
        },
        {
            "rank": 2,
            "sku": "LIP-RED",
            "category": "lipstick",
            "views": 3,  # d1 d3 d4
            "viewers": 3,
            "add_to_carts": 2,  # d1, and d3's cart before its view
            "units_sold": 2,
            "revenue": D("371.3120"),
            "viewers_who_bought": 1,
            "view_to_purchase": 1 / 3,
        },
    ]


# -- the entry points, and reruns ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(JOBS))
def test_each_job_alone_writes_what_reports_writes(name, spark, landed, shanghai, read_report):
    alone = f"{landed.reports}/alone"
    assert JOBS[name].main(args(landed, alone)) == 0
    assert read_report(name, DATE, alone) == read_report(name, DATE, shanghai)
    assert read_report("_quality", DATE, alone) == read_report("_quality", DATE, shanghai)


def test_a_rerun_replaces_the_day_with_identical_output_and_nothing_else(
    spark, landed, read_report
):
    root = f"{landed.reports}/rerun"
    other_day = f"{root}/sales_daily/dt=2026-11-10"
    spark.createDataFrame([("kept",)], "note string").write.parquet(other_day)
    assert sales_daily.main(args(landed, root)) == 0
    first = read_report("sales_daily", DATE, root)
    assert sales_daily.main(args(landed, root)) == 0
    assert read_report("sales_daily", DATE, root) == first  # same rows, same order
    assert [r.note for r in spark.read.parquet(other_day).collect()] == ["kept"]
    written = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(f"{root}/sales_daily")
    fs = written.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    names = sorted(s.getPath().getName() for s in fs.listStatus(written))
    assert names == ["dt=2026-11-10", "dt=2026-11-11"]  # no staging or replaced folder left


def test_spark_submit_runs_a_job_file(landed, shanghai, read_report, stack):
    root = f"{landed.reports}/submitted"
    submit = Path(sys.executable).parent / "spark-submit"
    env = {
        **os.environ,
        "HADOOP_USER_NAME": stack.hdfs_user,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    done = subprocess.run(
        [str(submit), "--master", "local[1]", "--driver-memory", "512m",
         "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=2",
         "batch/sales_minute.py", *args(landed, root)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "quality 2026-11-11 Asia/Shanghai: files_read=18" in done.stdout
    assert f"wrote {root}/sales_minute/dt={DATE}" in done.stdout
    assert read_report("sales_minute", DATE, root) == read_report("sales_minute", DATE, shanghai)
    # Its cumulative sums run over the day's minutes in one window partition, on purpose.
    assert "No Partition Defined" not in done.stderr


def test_a_bad_date_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        reports.main(["--date", "2026-13-01"])
    assert exit_.value.code == 2
    assert "date" in capsys.readouterr().err
