"""The landed table: one row per enriched event, typed columns for what reports read.

`COLUMNS` (schemas/columns.py) is the one declarative list (column name, kind, where the value
is in the enriched event); `arrow_type()` gives each kind its Arrow type here, `arrow_schema()`
and `to_row()` come from them, and the Spark schema comes
from `arrow_schema()` (schemas/spark.py). Whatever no column holds is kept, losslessly, as JSON
in `extra`, with the event's own nesting: {"ts": ..., "properties": {"coupon": "D11-50"}}.

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

The enriched event is the client event plus the server fields of DESIGN.md; `event_time` and
`received_at` may be epoch-ms integers (cheapest) or RFC 3339 strings, `schema_version` an int.
A value that does not fit its column (impossible after validation) leaves the column null and
is kept whole in `extra`, so a bad record can never stop the lander.
"""

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from schemas.columns import (
    COLUMNS,
    DROPPED,
    EVENT_LAYOUT,
    EXTRA,
    ITEM_COLUMNS,
    ITEM_LAYOUT,
    Column,
    Layout,
)
from schemas.record import extra_json
from schemas.timestamps import parse_time

MONEY = pa.decimal128(18, 4)
TIME = pa.timestamp("us", tz="UTC")
_NOTHING = object()  # "the column holds all of it": nothing to keep in `extra`


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type of a column kind (schemas/columns.py)."""
    if kind == "items":
        return pa.list_(ITEM)
    return _TYPES[kind]


_TYPES = {"string": pa.string(), "int32": pa.int32(), "decimal": MONEY, "timestamp": TIME}
ITEM = pa.struct([c.field() for c in ITEM_COLUMNS])


def arrow_schema() -> pa.Schema:
    return pa.schema([*(c.field() for c in COLUMNS), pa.field(EXTRA, pa.string())])


def to_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """The row of one enriched event: {column: value}, with what is left over in `extra`."""
    row, rest = _split(event, EVENT_LAYOUT)
    for key in DROPPED:
        rest.pop(key, None)
    row[EXTRA] = extra_json(rest) if rest else None
    return row


def to_table(events: Iterable[Mapping[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([to_row(e) for e in events], schema=arrow_schema())


def _split(obj: Mapping[str, Any], layout: Layout) -> tuple[dict[str, Any], dict[str, Any]]:
    """(typed values by column name, what no column holds) for one object."""
    row = dict.fromkeys(layout.names)
    return row, _walk(obj, layout.tree, row)


def _walk(obj: Mapping[str, Any], tree: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    rest: dict[str, Any] = {}
    for key, value in obj.items():
        node = tree.get(key)
        if node is None:
            rest[key] = value
        elif isinstance(node, Column):
            row[node.name], kept = _convert(node, value)
            if kept is not _NOTHING:
                rest[key] = kept
        elif isinstance(value, dict):
            inner = _walk(value, node, row)
            if inner:
                rest[key] = inner
        elif value is not None:  # an object was expected: keep what came, whole
            rest[key] = value
    return rest


def _convert(column: Column, value: Any) -> tuple[Any, Any]:
    """(the column's value, what `extra` must keep of `value`: _NOTHING if the column holds it)."""
    if value is None:
        return None, _NOTHING
    try:
        return _CONVERTERS[column.kind](column, value)
    except (TypeError, ValueError, ArithmeticError):
        return None, value  # not of the column's type: null in the column, kept whole in extra


def _string(column: Column, value: Any) -> tuple[Any, Any]:
    if type(value) is not str:
        raise TypeError(column.name)
    return value, _NOTHING


def _int32(column: Column, value: Any) -> tuple[Any, Any]:
    # JSON allows 2.0 for an integer; bool is an int subclass but never a count.
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not -(2**31) <= value < 2**31:
        raise ValueError(column.name)
    return value, _NOTHING


def _decimal(column: Column, value: Any) -> tuple[Any, Any]:
    if type(value) not in (int, float):
        raise TypeError(column.name)
    exact = Decimal(repr(value))  # repr: the shortest text of the float, as the JSON had it
    scaled = exact.quantize(Decimal(1).scaleb(-column.type.scale))
    if scaled.adjusted() >= column.type.precision - column.type.scale:
        raise InvalidOperation(column.name)
    # Rounded beyond the scale: the column has the rounded value, extra the exact one.
    return scaled, (_NOTHING if scaled == exact else value)


def _timestamp(column: Column, value: Any) -> tuple[Any, Any]:
    return parse_time(value), _NOTHING


def _items(column: Column, value: Any) -> tuple[Any, Any]:
    if type(value) is not list:
        raise TypeError(column.name)
    structs, rests = [], []
    for item in value:
        struct, rest = _split(item, ITEM_LAYOUT) if isinstance(item, dict) else (None, item)
        structs.append(struct)
        rests.append(rest)
    # Positional, so extra's items line up with the column's: [{}, {"gift_wrap": true}].
    return structs, (rests if any(r != {} for r in rests) else _NOTHING)


_CONVERTERS = {
    "string": _string,
    "int32": _int32,
    "decimal": _decimal,
    "timestamp": _timestamp,
    "items": _items,
}
