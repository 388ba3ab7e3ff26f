"""The Spark schema of the landed table, derived from the Arrow schema (never written twice).

pyspark is imported inside the functions: the collector imports `schemas` on its hot path and
must not load a JVM bridge it never uses.

Every field is nullable: Spark's file sources read every Parquet column as nullable, whatever
the file says, so this is the schema `spark.read.parquet` returns (the round-trip test checks
it). Reading the partitioned root (/surge/events) adds the `dt` and `hr` partition columns.
"""

from typing import TYPE_CHECKING

import pyarrow as pa

from schemas.arrow import arrow_schema

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType


def spark_schema() -> "StructType":
    """The StructType of the landed table."""
    return to_spark_struct(arrow_schema())


def to_spark_struct(schema: pa.Schema | pa.StructType) -> "StructType":
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(f.name, to_spark_type(f.type), nullable=True) for f in schema])


def to_spark_type(arrow_type: pa.DataType) -> "DataType":
    """The Spark type Spark gives a Parquet column written with this Arrow type."""
    from pyspark.sql import types as T

    t = pa.types
    if t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return T.StringType()
    if t.is_boolean(arrow_type):
        return T.BooleanType()
    simple = {
        pa.int8(): T.ByteType,
        pa.int16(): T.ShortType,
        pa.int32(): T.IntegerType,
        pa.int64(): T.LongType,
        pa.float32(): T.FloatType,
        pa.float64(): T.DoubleType,
        pa.date32(): T.DateType,
        pa.binary(): T.BinaryType,
    }
    if arrow_type in simple:
        return simple[arrow_type]()
    if t.is_decimal(arrow_type):
        return T.DecimalType(arrow_type.precision, arrow_type.scale)
    if t.is_timestamp(arrow_type):
        # A UTC instant is TimestampType; a zone-less local time is TIMESTAMP_NTZ.
        return T.TimestampType() if arrow_type.tz else T.TimestampNTZType()
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        return T.ArrayType(to_spark_type(arrow_type.value_type), containsNull=True)
    if t.is_struct(arrow_type):
        return to_spark_struct(arrow_type)
    if t.is_map(arrow_type):
        return T.MapType(to_spark_type(arrow_type.key_type), to_spark_type(arrow_type.item_type))
    raise TypeError(f"no Spark type for Arrow {arrow_type}")
