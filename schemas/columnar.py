"""Many enriched events -> one Arrow record batch, column by column, in Python.

The lander's path for the polls that the native reader (schemas/native.py) sends back: records
not in the shape the collector writes, or with values only the reference maps exactly.

`to_record_batch(events)` is `to_table([to_row(e) for e in events])` as one record batch, the
same values to the bit (tests/schemas/test_schema_columnar.py compares the two on many varied
events), at a fraction of the cost: no dict per row, no converter call per value.

- Values are gathered per column along the column's path in `COLUMNS` (one `itemgetter` call
  per event for the top-level columns, `dict.get` over the list of their `page`, `context`...
  objects for the others), and Arrow converts a whole kind of column in one call (the 23
  string columns are slices of one array). Only values off the common shape (a number where
  a string belongs, an amount beyond the scale, a time that is not plain RFC 3339...) go one
  by one through `to_row`'s own converters; amounts are cached (prices repeat).
- `extra`: what no column holds is an event's unknown top-level keys (`ts`, `sent_at`...,
  found once per key order), plus its leftovers: the unknown keys of its objects, objects
  that are not objects, values that did not fit their column whole. They are nested back as
  in the event, which is what `to_row`'s walk keeps.
- Times: the collector writes RFC 3339 UTC ("2026-11-10T16:00:03.120Z"); strings of a strict
  subset of RFC 3339 are parsed by an Arrow cast (the subset is checked with one vectorised
  regex: no leap second, at most 6 digits of fraction, "T" and "Z" in upper case), epoch ms by
  arithmetic, anything else by `parse_time`.
- Anything unforeseen (an object that is a dict subclass, a value Arrow refuses...) sends the
  whole batch down the reference path: `to_row` per event, refused rows found one by one.

It is fastest on a few hundred events at a time, while they are still in the CPU caches
(stream/decode.py maps a poll 512 events at a time, each chunk right after parsing it).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from schemas.columns import COLUMNS, DROPPED, EVENT_LAYOUT, Column
from schemas.record import extra_json
from schemas.table import _NOTHING, _convert, arrow_schema, to_row
from schemas.timestamps import EPOCH_MS_MAX, EPOCH_MS_MIN

_SCHEMA = arrow_schema()
_NONE = type(None)
_EMPTY: dict[str, Any] = {}  # stands for an absent, null or non-object value; never written to
_TOP_KEYS = frozenset(EVENT_LAYOUT.tree) | DROPPED  # keys that never go to `extra` as such
_INT32 = (-(2**31), 2**31)
# The RFC 3339 times an Arrow cast reads exactly as `parse_time` does (timestamps.py accepts
# more: "t", "z", leap seconds, 7+ digits of fraction; those take the slow way).
_PLAIN_TIME = (
    r"^(?:19|2\d)\d\d-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$"
)
_MONEY_CACHE_SIZE = 1 << 16
# What Arrow raises when it refuses Python values.
ARROW_REFUSALS = (pa.ArrowException, TypeError, ValueError, OverflowError)


@dataclass(frozen=True)
class Mapped:
    """The rows of a batch of events, and the events that have none."""

    batch: pa.RecordBatch  # one row per event not refused, in the events' order
    refused: dict[int, str]  # index in the events -> why (to_row raised, or Arrow refused)


def to_record_batch(events: Sequence[Mapping[str, Any]]) -> Mapped:
    """The rows of `events` (as `to_row` and `to_table` make them) in one record batch."""
    if all(type(e) is dict for e in events):
        try:
            return _columnar(events)  # type: ignore[arg-type]
        except Exception:  # a shape the fast path did not foresee: the reference decides
            pass
    return reference_batch(events)


def reference_batch(events: Sequence[Mapping[str, Any]]) -> Mapped:
    """`to_record_batch` the slow way: `to_row` per event, then Arrow on the rows."""
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


class _Unforeseen(Exception):
    """The fast path cannot map this batch exactly as to_row would."""


Path = tuple[str, ...]
# Per event (by index): what `extra` keeps of it besides its unknown top-level keys, as
# (where in the event, value): unknown keys of its objects, values that did not fit whole.
Leftovers = defaultdict[int, list[tuple[Path, Any]]]


def _columnar(events: list[dict[str, Any]]) -> Mapped:
    left: Leftovers = defaultdict(list)
    raw: dict[str, list[Any]] = {}
    _gather(events, EVENT_LAYOUT.tree, (), raw, left)
    converted: dict[str, pa.Array] = {}
    for convert, columns in _KINDS:
        arrays = convert(columns, [raw[column.name] for column in columns], left)
        converted.update(zip((column.name for column in columns), arrays, strict=True))
    arrays = [converted[column.name] for column in COLUMNS]
    extras, refused = _extras(events, left)
    arrays.append(pa.array(extras, pa.string()))
    batch = pa.RecordBatch.from_arrays(arrays, schema=_SCHEMA)
    if refused:
        batch = batch.filter(pa.array([i not in refused for i in range(len(events))]))
    return Mapped(batch, refused)


def _gather(
    objs: list[dict[str, Any]],
    tree: dict[str, Any],
    path: Path,
    raw: dict[str, list[Any]],
    left: Leftovers,
) -> None:
    """The raw values of every column under `tree`, one sequence per column, from `objs`
    (the objects at `path`, one per event: `_EMPTY` where there is none)."""
    leaves = [key for key, node in tree.items() if isinstance(node, Column)]
    for key, values in zip(leaves, _values_of(objs, leaves), strict=True):
        raw[tree[key].name] = values
    for key, node in tree.items():
        if not isinstance(node, Column):
            inner = (*path, key)
            values = list(map(dict.get, objs, repeat(key)))
            _gather(_objects(values, node, inner, left), node, inner, raw, left)


def _values_of(objs: list[dict[str, Any]], keys: list[str]) -> list[Sequence[Any]]:
    """The values of `keys` in `objs`, one sequence per key (None where a key is absent)."""
    if objs and len(keys) > 1:
        try:  # the common case, where every object has every key: one call per object
            return list(zip(*map(itemgetter(*keys), objs), strict=True))
        except KeyError:
            pass
    return [list(map(dict.get, objs, repeat(key))) for key in keys]


def _objects(values: list[Any], tree: dict[str, Any], path: Path, left: Leftovers) -> list[dict]:
    """The objects at `path` (`_EMPTY` for null, absent or not an object); what is not an
    object, and keys of theirs that no column holds, are left over."""
    if not set(map(type, values)) <= {dict, _NONE}:
        values = list(values)
        for i, value in enumerate(values):
            if value is not None and type(value) is not dict:
                if isinstance(value, dict):
                    raise _Unforeseen("a dict subclass")  # to_row walks into those
                left[i].append((path, value))  # an object was expected: kept whole
                values[i] = None
    objs = [value or _EMPTY for value in values]
    known = frozenset(tree)
    if not all(map(known.issuperset, objs)):
        for i, obj in enumerate(objs):
            if not known.issuperset(obj):
                left[i] += [((*path, k), obj[k]) for k in obj if k not in known]
    return objs


# The top-level keys of an event, in order -> those no column holds.
_unknown_keys: dict[tuple[str, ...], tuple[str, ...]] = {}
_SHAPES = 1 << 12


def _extras(events: list[dict[str, Any]], left: Leftovers) -> tuple[list[str | None], dict]:
    """`extra` of each event: its unknown top-level keys and its leftovers, nested as in the
    event; and the events whose `extra` cannot be written (as to_row would raise)."""
    extras: list[str | None] = []
    refused: dict[int, str] = {}
    unknown_in = _unknown_keys
    for i, event in enumerate(events):
        shape = tuple(event)  # events of a kind have the same keys, in the same order
        unknown = unknown_in.get(shape)
        if unknown is None:
            if len(unknown_in) >= _SHAPES:
                unknown_in.clear()
            unknown = unknown_in[shape] = tuple(k for k in shape if k not in _TOP_KEYS)
        rest = {k: event[k] for k in unknown} if unknown else None
        if i in left:
            rest = rest or {}
            for path, value in left[i]:
                node = rest
                for key in path[:-1]:
                    node = node.setdefault(key, {})
                node[path[-1]] = value
        try:
            extras.append(extra_json(rest) if rest else None)
        except Exception as exc:  # not JSON (an object no event decoded from JSON holds)
            refused[i] = f"{type(exc).__name__}: {exc}"
            extras.append(None)
    return extras, refused


# -- one converter per column kind: raw values -> an Arrow array -------------------------------


def _one_by_one(
    column: Column, values: Sequence[Any], left: Leftovers, plain: Callable[[Any], bool]
) -> list[Any]:
    """`values`, those not `plain` converted by to_row's converter (what it keeps of them
    is left over)."""
    out = list(values)
    for i, value in enumerate(values):
        if value is None or plain(value):
            continue
        out[i], kept = _convert(column, value)
        if kept is not _NOTHING:
            left[i].append((column.path, kept))
    return out


# Each kind converts all its columns at once: one Arrow call (and one regex) for the 23 string
# columns rather than 23, when every value is plain; the columns are slices of one array.


def _strings(columns: list[Column], raws: list[Sequence[Any]], left: Leftovers) -> list:
    values = list(chain.from_iterable(raws))
    if set(map(type, values)) <= {str, _NONE}:
        return _slices(pa.array(values, pa.string()), len(columns))
    return [_string_column(c, v, left) for c, v in zip(columns, raws, strict=True)]


def _string_column(column: Column, values: Sequence[Any], left: Leftovers) -> pa.Array:
    if not set(map(type, values)) <= {str, _NONE}:
        values = _one_by_one(column, values, left, lambda v: type(v) is str)
    return pa.array(values, column.type)


def _int32s(columns: list[Column], raws: list[Sequence[Any]], left: Leftovers) -> list:
    return [_int32_column(c, v, left) for c, v in zip(columns, raws, strict=True)]


def _int32_column(column: Column, values: Sequence[Any], left: Leftovers) -> pa.Array:
    low, high = _INT32
    plain = set(map(type, values)) <= {int, _NONE}
    if plain:  # filter(None): the nulls go, and zeros, which are in range
        plain = min(filter(None, values), default=0) >= low
        plain = plain and max(filter(None, values), default=0) < high
    if not plain:
        values = _one_by_one(column, values, left, lambda v: type(v) is int and low <= v < high)
    return pa.array(values, column.type)


# Per decimal type: (type, number) -> what to_row's converter makes of it.
_money_cache: dict[pa.DataType, dict[tuple[type, Any], tuple[Any, Any]]] = {}


def _decimals(columns: list[Column], raws: list[Sequence[Any]], left: Leftovers) -> list:
    return [_decimal_column(c, v, left) for c, v in zip(columns, raws, strict=True)]


def _decimal_column(column: Column, values: Sequence[Any], left: Leftovers) -> pa.Array:
    out = list(values)
    cache = _money_cache.setdefault(column.type, {})
    for i, value in enumerate(values):
        if value is None:
            continue
        if type(value) in (int, float):  # hashable; amounts and prices repeat a lot
            key = (type(value), value)
            found = cache.get(key)
            if found is None:
                if len(cache) >= _MONEY_CACHE_SIZE:
                    cache.clear()
                found = cache[key] = _convert(column, value)
            out[i], kept = found
        else:
            out[i], kept = _convert(column, value)
        if kept is not _NOTHING:
            left[i].append((column.path, kept))
    return pa.array(out, column.type)


def _timestamps(columns: list[Column], raws: list[Sequence[Any]], left: Leftovers) -> list:
    values = list(chain.from_iterable(raws))
    if set(map(type, values)) <= {str, _NONE}:  # the collector's: RFC 3339 strings
        strings = pa.array(values, pa.string())
        if pc.match_substring_regex(strings, _PLAIN_TIME).false_count == 0:
            with contextlib.suppress(pa.ArrowInvalid):  # not in the calendar: column by column
                return _slices(strings.cast(columns[0].type), len(columns))
    return [_timestamp_column(c, v, left) for c, v in zip(columns, raws, strict=True)]


def _timestamp_column(column: Column, values: Sequence[Any], left: Leftovers) -> pa.Array:
    types = set(map(type, values))
    if types == {int}:  # epoch ms: exact arithmetic, if all are in the schema's range
        if min(values) >= EPOCH_MS_MIN and max(values) <= EPOCH_MS_MAX:
            return pc.multiply(pa.array(values, pa.int64()), 1000).cast(column.type)
    elif types <= {str, _NONE}:
        strings = pa.array(values, pa.string())
        plain = pc.match_substring_regex(strings, _PLAIN_TIME)
        try:
            if plain.false_count == 0:
                return strings.cast(column.type)
            parsed = pc.if_else(plain, strings, None).cast(column.type)
        except pa.ArrowInvalid:  # a day not in the calendar (February 30): one by one
            pass
        else:
            # The few others (lower case "t", leap seconds, ...) one by one, then merged.
            flags = plain.to_pylist()  # null where the value is null
            others = [v if f is False else None for f, v in zip(flags, values, strict=True)]
            rest = pa.array(_one_by_one(column, others, left, lambda v: False), column.type)
            return pc.coalesce(parsed, rest)
    return pa.array(_one_by_one(column, values, left, lambda v: False), column.type)


def _items(columns: list[Column], raws: list[Sequence[Any]], left: Leftovers) -> list:
    # One by one: a few events in ten have items, and a columnar build of a few hundred
    # lists costs about what to_row's converter does (measured).
    return [
        pa.array(_one_by_one(c, v, left, lambda v: False), c.type)
        for c, v in zip(columns, raws, strict=True)
    ]


def _slices(whole: pa.Array, count: int) -> list[pa.Array]:
    """`whole` cut in `count` equal slices (views, not copies)."""
    size = len(whole) // count
    return [whole.slice(i * size, size) for i in range(count)]


_CONVERT: dict[str, Callable[[list[Column], list[Sequence[Any]], Leftovers], list]] = {
    "string": _strings,
    "int32": _int32s,
    "decimal": _decimals,
    "timestamp": _timestamps,
    "items": _items,
}
_KINDS = [
    (convert, [column for column in COLUMNS if column.kind == kind])
    for kind, convert in _CONVERT.items()
]
