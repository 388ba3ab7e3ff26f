"""The landed table's Arrow schema: the Arrow type of each column kind (schemas/columns.py).

The Spark schema is derived from it (schemas/spark.py). Whatever no column holds is kept,
losslessly, as JSON text in `extra`, with the event's own nesting.

Type choices:
- Money (`amount`, `price`, item prices) is decimal(18, 4), not float64: Spark sums decimals
  exactly (sum(decimal(18,4)) is decimal(28,4)), so a GMV total is the same to the cent whatever
  the partitioning, where float64 sums drift and depend on the order of addition. Scale 4 holds
  the minor unit of every ISO 4217 currency; precision 18 fits the schema's maximum of 10^12 and
  still fits a 64-bit integer in Parquet.
- Times are timestamp[us, UTC]: microseconds is Spark's TimestampType precision, so files Spark
  rewrites (compaction) hold the same values.
- `event_id`, `type`, `event_time`, `received_at`, `device_id` are never null: the collector
  guarantees them, and a row without them could not be deduplicated or partitioned.
"""

import pyarrow as pa

from schemas.columns import COLUMNS, EXTRA, ITEM_COLUMNS, Column

MONEY = pa.decimal128(18, 4)
TIME = pa.timestamp("us", tz="UTC")
_SCALARS = {"string": pa.string(), "int32": pa.int32(), "decimal": MONEY, "timestamp": TIME}
ITEM = pa.struct([pa.field(c.name, _SCALARS[c.kind], nullable=c.nullable) for c in ITEM_COLUMNS])


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type of a column kind ("string", "int32", "decimal", "timestamp", "items")."""
    return pa.list_(ITEM) if kind == "items" else _SCALARS[kind]


def arrow_field(column: Column) -> pa.Field:
    return pa.field(column.name, arrow_type(column.kind), nullable=column.nullable)


def arrow_schema() -> pa.Schema:
    return pa.schema([*(arrow_field(c) for c in COLUMNS), pa.field(EXTRA, pa.string())])
