"""The Spark schema is derived from the Arrow one, and is what Spark reads back from Parquet."""

from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.spark import spark_schema, to_spark_type
from schemas.timestamps import to_epoch_ms
from stream.rows import to_table


def test_spark_schema_is_the_arrow_schema_in_spark_types():
    assert spark_schema().simpleString() == (
        "struct<event_id:string,type:string,event_time:timestamp,received_at:timestamp,"
        "device_id:string,user_id:string,session_id:string,app_id:string,schema_version:int,"
        "ip:string,user_agent:string,page_url:string,page_referrer:string,page_title:string,"
        "platform:string,app_version:string,locale:string,campaign_source:string,"
        "campaign_medium:string,campaign_name:string,order_id:string,amount:decimal(18,4),"
        "currency:string,sku:string,category:string,price:decimal(18,4),quantity:int,"
        "query:string,method:string,"
        "items:array<struct<sku:string,category:string,price:decimal(18,4),quantity:int>>,"
        "extra:string>"
    )
    assert all(f.nullable for f in spark_schema().fields)


def test_zone_less_timestamps_are_ntz():
    assert to_spark_type(pa.timestamp("us")).simpleString() == "timestamp_ntz"
    with pytest.raises(TypeError):
        to_spark_type(pa.duration("s"))


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("surge-schemas-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.mark.integration
@pytest.mark.parametrize("decimals_as_integers", [True, False])
def test_parquet_written_with_the_arrow_schema_reads_in_spark_as_spark_schema(
    spark, tmp_path, example, enrich, decimals_as_integers
):
    events = [enrich(example(t)) for t in ("order_placed", "page_view", "payment_succeeded")]
    events[2]["properties"]["amount"] = 0.1  # float64 would make 1068 + 0.1 inexact
    table = to_table(events)
    pq.write_table(table, tmp_path / "part.parquet", store_decimal_as_integer=decimals_as_integers)

    df = spark.read.parquet(str(tmp_path))

    assert df.schema == spark_schema()
    [totals] = df.selectExpr(
        "sum(amount) AS gmv",
        "sum(size(items)) AS lines",
        "max(unix_millis(event_time)) AS last_ms",
        "max(items[1].price) AS second_price",
    ).collect()
    assert totals.gmv == Decimal("1068.1000")
    assert totals.lines == 2
    assert totals.last_ms == to_epoch_ms(events[0]["event_time"])
    assert totals.second_price == Decimal("459.5000")
