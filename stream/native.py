"""Record values in the split shape (schemas/record.py) -> one Arrow record batch, natively.

The lander's usual path: a poll is joined into newline-delimited JSON and read by Arrow's JSON
reader against the record's closed schema, with no Python per event. It gives the very rows
the reference mapping gives (stream/rows.py, on the values with `extra` joined back;
tests/stream/test_native.py compares them), or None: then nothing is lost, the caller maps
those values the reference way. None when:
- a value is missing, is not one line from "{" to "}", holds two objects, or is not UTF-8
  (the rows would not be the records one for one);
- Arrow refuses it: an unknown key (a record the collector did not split), a value not of its
  column's type, an integer beyond int32, duplicate keys;
- a time is not of the plain RFC 3339 subset the Arrow cast reads as `parse_time` does;
- a required column is null;
- a money value is not exactly a decimal of scale 4 below 10^11. Money is read as a float, as
  the reference reads it, then scaled; a value that does not come back as the same float (more
  decimals, too large to be exact) is the reference's to round and keep in `extra`. Arrow's
  own decimal reader is not used: it reads "1.5" (a string) as a number and, in Arrow 26,
  some tiny exponents ("1e-43") as 0 instead of refusing them.

`extra` is taken as the record has it: the collector wrote it with `extra_json`, which is
what the reference writes too. The native path trusts that text; a producer other than the
collector that writes the split shape with an `extra` of its own making (unsorted keys, a
column's name inside) gets that text landed as it is when it is read natively, and `extra`
kept as an unknown key when it goes the reference way. Only the collector should
write to the topic (Kafka ACLs); a header marking its records would let the lander tell.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import repeat
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from schemas.arrow import MONEY, arrow_schema, arrow_type
from schemas.columns import COLUMNS, EVENT_LAYOUT, EXTRA, ITEM_LAYOUT, Column
from stream.rows import ARROW_REFUSALS

_SCHEMA = arrow_schema()
# The RFC 3339 times an Arrow cast reads exactly as `parse_time` does (schemas/timestamps.py
# accepts more: "t", "z", leap seconds, 7+ digits of fraction; those go the reference way).
_PLAIN_TIME = (
    r"^(?:19|2\d)\d\d-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$"
)
_SCALE = 10.0**MONEY.scale
_UNIT = pa.scalar(Decimal("0.0001"), pa.decimal128(4, 4))
_MONEY_LIMIT = 10**11  # below it, with 4 decimals, a value has at most 15 digits: float-exact
# Read as JSON has them, converted after: times as text, money as the float it is in JSON.
_AS_READ = {"timestamp": pa.string(), "decimal": pa.float64()}


def _record_type(tree: dict[str, Any]) -> pa.StructType:
    """The record's nested type: the event's objects as structs, columns as _AS_READ."""
    fields = []
    for key, node in tree.items():
        if not isinstance(node, Column):
            fields.append(pa.field(key, _record_type(node)))
        elif node.kind == "items":
            fields.append(pa.field(key, pa.list_(_record_type(ITEM_LAYOUT.tree))))
        else:
            fields.append(pa.field(key, _AS_READ.get(node.kind) or arrow_type(node.kind)))
    return pa.struct(fields)


RECORD_SCHEMA = pa.schema([*_record_type(EVENT_LAYOUT.tree), pa.field(EXTRA, pa.string())])
_PARSE = pj.ParseOptions(explicit_schema=RECORD_SCHEMA, unexpected_field_behavior="error")
# Blocks of 1 MiB, parsed on Arrow's threads (the GIL released) while the lander's loop
# fetches. No value holds a line break (_ndjson), so blocks end between records.
_READ = pj.ReadOptions(use_threads=True, block_size=1 << 20)


def from_values(values: Sequence[bytes | None]) -> pa.RecordBatch | None:
    """The rows of these record values, natively; None if the reference must map them."""
    text = _ndjson(values)
    if text is None:
        return None
    try:
        return _read(text, len(values))
    except ARROW_REFUSALS:  # Arrow refused a value (or a shape nobody foresaw): the reference
        return None


def _read(text: bytes, count: int) -> pa.RecordBatch | None:
    table = pj.read_json(pa.py_buffer(text), read_options=_READ, parse_options=_PARSE)
    if table.num_rows != count:
        return None
    record = table.combine_chunks().to_batches()[0]
    arrays = [_column(record, column) for column in COLUMNS]
    if any(array is None for array in arrays):
        return None
    return pa.RecordBatch.from_arrays([*arrays, record.column(EXTRA)], schema=_SCHEMA)


def _ndjson(values: Sequence[bytes | None]) -> bytes | None:
    """The values as lines, if each is one line that starts and ends an object, all UTF-8.

    Arrow reads a stream of objects, whatever the line breaks. A line that starts an object
    is one row or more (or Arrow refuses it), so with as many rows as values each value is one
    row, in order. Only values written to fool this (an unclosed object ending in "}" next to
    one holding two objects) could shift rows among themselves; the collector's cannot."""
    try:
        if not all(map(bytes.startswith, values, repeat(b"{"))):  # type: ignore[arg-type]
            return None
        if not all(map(bytes.endswith, values, repeat(b"}"))):  # type: ignore[arg-type]
            return None
    except TypeError:  # a value is None (a tombstone)
        return None
    text = b"\n".join(values)  # type: ignore[arg-type]
    if text.count(b"\n") != len(values) - 1:
        return None  # a line break inside a value
    if not text.isascii():
        try:
            text.decode()  # Arrow does not check: invalid UTF-8 would land as it is
        except UnicodeDecodeError:
            return None
    return text


def _column(record: pa.RecordBatch, column: Column) -> pa.Array | None:
    """The column as the table has it, from the record's nested arrays; None if the
    reference must decide."""
    array = record.column(column.path[0])
    for key in column.path[1:]:
        array = pc.struct_field(array, key)  # null where the object is null
    if not column.nullable and array.null_count:
        return None
    if column.kind == "timestamp":
        return _time(array, arrow_type(column.kind))
    if column.kind == "decimal":
        return _money(array, arrow_type(column.kind))
    if column.kind == "items":
        return _items(array, arrow_type(column.kind))
    return array


def _time(strings: pa.Array, time: pa.DataType) -> pa.Array | None:
    if pc.match_substring_regex(strings, _PLAIN_TIME).false_count:
        return None  # the reference parses the others
    return strings.cast(time)  # raises on a day not in the calendar (February 30)


def _money(floats: pa.Array, money: pa.DataType) -> pa.Array | None:
    """The decimals of these floats, if each is exactly one (what Decimal(repr(x)) is)."""
    if floats.null_count == len(floats):
        return floats.cast(money)
    low, high = pc.min_max(floats).values()
    if max(-low.as_py(), high.as_py()) >= _MONEY_LIMIT:
        return None
    # Below the limit, x * 10^4 is within 0.15 of the integer n of the decimal x stands for,
    # and n / 10^4 (exact operands, one rounding) is x again exactly when there is one.
    units = pc.round(pc.multiply(floats, _SCALE))
    if not pc.all(pc.equal(pc.divide(units, _SCALE), floats)).as_py():
        return None  # more decimals than the scale: the reference rounds, and keeps the float
    exact = pc.multiply(units.cast(pa.int64()).cast(pa.decimal128(19, 0)), _UNIT)
    return exact.cast(money)


def _items(lists: pa.ListArray, items: pa.ListType) -> pa.Array | None:
    """The items with their prices as decimals (their other fields are as read)."""
    structs = lists.values
    item = items.value_type
    fields = [structs.field(f.name) for f in item]
    price = item.get_field_index("price")
    fields[price] = _money(fields[price], item.field(price).type)
    if fields[price] is None:
        return None
    structs = pa.StructArray.from_arrays(fields, fields=list(item), mask=structs.is_null())
    return pa.ListArray.from_arrays(lists.offsets, structs, mask=lists.is_null())
