"""The delicate parts of the transforms, on small in-memory DataFrames of the landed schema."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from batch.day import BusinessDay
from batch.events import KEY_COLUMNS, LANDED_HOUR, READ_COLUMNS, deduplicate, landed_hour
from batch.hadoop import FsError, HadoopFs
from batch.orders import allocate, money_lines
from batch.output import swap
from batch.quality import quality
from batch.traffic import SESSION, session_keys
from stream.rows import to_table


def uri(path) -> str:
    return f"file://{path}"  # not Path.as_uri(): Hadoop would keep its %3D for "="


def frame(spark, events):
    """Events as the reader gives them (READ_COLUMNS of the landed table)."""
    return spark.createDataFrame(to_table(events)).select(*READ_COLUMNS)


def ev(event_id, type_, at, received=None, device="d1", **extra):
    return {
        "event_id": event_id,
        "type": type_,
        "event_time": at,
        "received_at": received or at,
        "device_id": device,
        **extra,
    }


def test_dedup_keeps_the_first_received_copy_and_breaks_ties_by_content(spark):
    t = "2026-11-11T00:00:00Z"
    copies = [
        ev("a", "page_view", t, received="2026-11-11T00:00:09Z", context={"platform": "android"}),
        ev("a", "page_view", t, received="2026-11-11T00:00:01Z", context={"platform": "web"}),
        ev("a", "page_view", t, received="2026-11-11T00:00:01Z", context={"platform": "ios"}),
        ev("b", "page_view", t),
    ]
    for order in (copies, copies[::-1], copies[1:] + copies[:1]):
        kept = deduplicate(frame(spark, order).repartition(3)).orderBy("event_id").collect()
        # the earliest received_at wins; between the two received at :01, "ios" < "web"
        assert [(r.event_id, r.platform) for r in kept] == [("a", "ios"), ("b", None)]


def test_dedup_is_per_device_so_one_device_cannot_erase_anothers_event(spark):
    t = "2026-11-11T00:00:00Z"
    rows = [ev("a", "page_view", t, device="d1"), ev("a", "page_view", t, device="d2")]
    kept = deduplicate(frame(spark, rows)).orderBy("device_id").collect()
    assert [(r.event_id, r.device_id) for r in kept] == [("a", "d1"), ("a", "d2")]


def test_dedup_keeps_the_reader_columns_in_order(spark):
    kept = deduplicate(frame(spark, [ev("a", "page_view", "2026-11-11T00:00:00Z")]))
    assert tuple(kept.columns) == READ_COLUMNS


def lines(spark, total, values):
    rows = [("m", total, i, Decimal(v)) for i, v in enumerate(values)] or [("m", total, None, None)]
    df = spark.createDataFrame(
        rows, "event_id string, total decimal(18,4), line int, value decimal(24,4)"
    )
    fill = {
        "kind": F.lit("payment"),
        "order_id": F.lit("o"),
        "event_time": F.current_timestamp(),
        "platform": F.lit("web"),
        "buyer": F.lit("u"),
        "sku": F.lit("s"),
        "category": F.when(F.col("line").isNotNull(), F.lit("c")),
        "quantity": F.lit(1),
        "order_device": F.lit("d"),
    }
    return allocate(df.withColumns(fill))


@pytest.mark.parametrize(
    ("total", "values", "shares"),
    [
        # cumulative rounding: the shares always add up to the amount paid
        ("100", ["1", "1", "1"], ["33.3333", "33.3334", "33.3333"]),
        ("0.0002", ["1", "1", "1"], ["0.0001", "0.0000", "0.0001"]),
        ("800", ["398", "459.5"], ["371.3120", "428.6880"]),
        ("10", ["0", "0"], ["10", "0"]),  # lines worth nothing: all on the first
        ("10", ["5", "0", "5"], ["5", "0", "5"]),
    ],
)
def test_allocation_splits_an_amount_exactly(spark, total, values, shares):
    got = lines(spark, Decimal(total), values).orderBy("line").collect()
    assert [r.amount for r in got] == [Decimal(s) for s in shares]
    assert sum(r.amount for r in got) == Decimal(total)


def test_money_without_known_lines_is_one_unknown_row(spark):
    [row] = lines(spark, Decimal("12.5"), []).collect()
    assert (row.category, row.amount, row.sku is None or row.line is None) == (
        "(unknown)",
        Decimal("12.5"),
        True,
    )


def test_a_refund_is_split_like_its_order(spark):
    events = [
        ev("o", "order_placed", "2026-11-11T00:00:00Z", properties={
            "order_id": "O", "amount": 30.0, "currency": "CNY", "items": [
                {"sku": "A", "category": "x", "price": 10.0, "quantity": 1},
                {"sku": "B", "category": "y", "price": 20.0, "quantity": 1}]}),
        ev("p", "payment_succeeded", "2026-11-11T00:01:00Z",
           properties={"order_id": "O", "amount": 30.0}),
        ev("r", "refund", "2026-11-11T00:02:00Z", properties={"order_id": "O", "amount": 3.0}),
    ]  # fmt: skip
    got = money_lines(frame(spark, events)).select("kind", "sku", "amount").collect()
    assert sorted(tuple(r) for r in got) == [
        ("payment_succeeded", "A", Decimal(10)),
        ("payment_succeeded", "B", Decimal(20)),
        ("refund", "A", Decimal(1)),
        ("refund", "B", Decimal(2)),
    ]


def test_sessions_without_an_id_end_after_30_minutes_of_inactivity(spark):
    times = [
        "2026-11-11T00:00:00Z",
        "2026-11-11T00:30:00Z",  # exactly 30 min later: same session
        "2026-11-11T01:00:00.000001Z",  # 30 min and 1 µs: a new one
        "2026-11-11T01:10:00Z",
    ]
    events = [ev(f"e{i}", "page_view", t) for i, t in enumerate(times)]
    events.append(ev("s", "page_view", "2026-11-11T00:10:00Z", session_id="abc"))
    events.append(ev("o", "page_view", "2026-11-11T00:10:00Z", device="d2", session_id="abc"))
    keyed = session_keys(frame(spark, events)).collect()
    key = {r.event_id: tuple(r[c] for c in SESSION) for r in keyed}
    assert key["e0"] == key["e1"] != key["e2"] == key["e3"]
    # a client session id is a device's: the same id on another device is another session
    assert len({key["s"], key["o"], key["e0"], key["e2"]}) == 4


def test_swap_puts_the_old_partition_back_when_the_new_one_cannot_go_in(spark, tmp_path):
    fs = HadoopFs(spark, uri(tmp_path))
    final, aside = tmp_path / "dt=2026-11-11", tmp_path / "_replaced-x"
    final.mkdir()
    (final / "old.parquet").write_text("old")
    with pytest.raises(FsError):
        swap(fs, uri(tmp_path / "_staging-missing"), uri(final), uri(aside))
    assert (final / "old.parquet").read_text() == "old"
    assert not aside.exists()


def test_swap_replaces_the_partition_and_leaves_nothing_behind(spark, tmp_path):
    fs = HadoopFs(spark, uri(tmp_path))
    final, staged = tmp_path / "dt=2026-11-11", tmp_path / "_staging-x"
    final.mkdir()
    (final / "old.parquet").write_text("old")
    staged.mkdir()
    (staged / "new.parquet").write_text("new")
    swap(fs, uri(staged), uri(final), uri(tmp_path / "_replaced-x"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dt=2026-11-11"]
    assert [p.name for p in final.iterdir()] == ["new.parquet"]


def test_quality_places_rows_by_their_folder_even_after_2038(spark):
    """The landed hour in seconds outgrows an int on 2038-01-19: the counts must not overflow."""
    day = BusinessDay(dt.date(2040, 1, 1), "UTC")
    rows = [  # dt, hr, then the keys
        (dt.date(2040, 1, 1), 5, "e1", "page_view", "2040-01-01T05:10:00+00:00", "d1"),
        (dt.date(2040, 1, 1), 6, "e2", "page_view", "2040-01-01T05:59:59+00:00", "d1"),  # late
        (dt.date(2040, 1, 1), 7, None, "page_view", "2040-01-01T07:00:00+00:00", "d1"),
        (dt.date(2039, 12, 31), 23, None, "page_view", "2039-12-31T23:00:00+00:00", "d1"),
    ]
    landed = spark.createDataFrame(
        rows, "dt date, hr int, event_id string, type string, event_time string, device_id string"
    ).withColumn("event_time", F.to_timestamp("event_time"))
    read = landed.select(*KEY_COLUMNS, landed_hour().alias(LANDED_HOUR))
    events = frame(spark, [ev("e1", "page_view", "2040-01-01T05:10:00+00:00")])
    row = quality(read, events, day, files=3)
    # the row without event_id in the margin folder (2039-12-31/23) is not the day's own
    assert (row.rows_read, row.null_key_rows, row.input_rows) == (4, 1, 2)
    assert (row.late_events, row.events, row.duplicates_removed) == (1, 1, 1)
