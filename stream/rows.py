"""An enriched event -> its row of the landed table: the lander's reference mapping.

Each column (schemas/columns.py) takes the value at its path in the event, converted to its
kind's Arrow type (schemas/arrow.py); whatever no column holds is kept, losslessly, as JSON in
`extra`, with the event's own nesting: {"ts": ..., "properties": {"coupon": "D11-50"}}.

The enriched event is the client event plus the server fields of DESIGN.md; `event_time` and
`received_at` may be epoch-ms integers or RFC 3339 strings, `schema_version` an int. A value
that does not fit its column (impossible after validation) leaves the column null and is kept
whole in `extra`, so a bad record can never stop the lander.

Polls of records as the collector writes them are read natively instead (stream/native.py),
to the same rows; this mapping takes the others (stream/decode.py).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from schemas.arrow import MONEY, arrow_schema
from schemas.columns import DROPPED, EVENT_LAYOUT, EXTRA, ITEM_LAYOUT, Column, Layout
from schemas.record import extra_json
from schemas.timestamps import parse_time

_SCHEMA = arrow_schema()
_NOTHING = object()  # "the column holds all of it": nothing to keep in `extra`
# What Arrow raises when it refuses Python values.
ARROW_REFUSALS = (pa.ArrowException, TypeError, ValueError, OverflowError)


def to_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """The row of one enriched event: {column: value}, with what is left over in `extra`."""
    row, rest = _split(event, EVENT_LAYOUT)
    for key in DROPPED:
        rest.pop(key, None)
    row[EXTRA] = extra_json(rest) if rest else None
    return row


def to_table(events: Iterable[Mapping[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([to_row(e) for e in events], schema=_SCHEMA)


@dataclass(frozen=True)
class Mapped:
    """The rows of a batch of events, and the events that have none."""

    batch: pa.RecordBatch  # one row per event not refused, in the events' order
    refused: dict[int, str]  # index in the events -> why (to_row raised, or Arrow refused)


def to_record_batch(events: Sequence[Mapping[str, Any]]) -> Mapped:
    """The rows of `events` in one record batch, and why the others have none: `to_row`
    raised, or Arrow refused the row."""
    rows: list[dict[str, Any]] = []
    refused: dict[int, str] = {}
    for i, event in enumerate(events):
        try:
            rows.append(to_row(event))
        except Exception as exc:  # a shape schemas/ never foresaw: refuse the row, not the batch
            refused[i] = f"{type(exc).__name__}: {exc}"
    try:
        return Mapped(pa.RecordBatch.from_pylist(rows, _SCHEMA), refused)
    except ARROW_REFUSALS:
        pass
    # Rare: find the rows Arrow refuses, one by one, and keep the others.
    kept = []
    row_of = iter(rows)
    for i in range(len(events)):
        if i in refused:
            continue
        row = next(row_of)
        try:
            pa.RecordBatch.from_pylist([row], _SCHEMA)
            kept.append(row)
        except ARROW_REFUSALS as exc:
            refused[i] = f"{type(exc).__name__}: {exc}"
    return Mapped(pa.RecordBatch.from_pylist(kept, _SCHEMA), dict(sorted(refused.items())))


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
    scaled = exact.quantize(Decimal(1).scaleb(-MONEY.scale))
    if scaled.adjusted() >= MONEY.precision - MONEY.scale:
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
