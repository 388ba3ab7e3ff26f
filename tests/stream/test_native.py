"""The native read gives the reference mapping's rows, to the bit, on many varied events.

The native path (stream/native.py, record values as the collector writes them) gives the same
rows as the reference (stream/rows.py) or none at all: the caller then takes the reference.

`to_record_batch(events)` must equal `to_table([to_row(e) for e in events])` for the events
the reference maps, and refuse exactly the others (with the reference's reason). Events are
the catalogue's examples, enriched, then mutated at random, at every level: unknown fields,
wrong types, nulls, objects that are not objects, items lists of every shape, amounts with
many decimal places or beyond the precision, huge integers, times in every RFC 3339 shape
and as epoch ms. Batches are plain, lightly or heavily mutated, small and large.
"""

import copy
import json
import random
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pytest

from schemas import catalogue
from schemas.arrow import arrow_schema
from schemas.columns import COLUMNS, EXTRA
from schemas.record import join_extra, split_extra
from stream.native import from_values
from stream.rows import to_record_batch, to_row, to_table

SCHEMA = arrow_schema()
TYPES = sorted(catalogue.event_types())

TIMES = [
    "2026-11-10T16:00:03.120Z",
    "2026-11-10T16:00:03Z",
    "2026-11-10T16:00:03.1Z",
    "2026-11-10T16:00:03.123456Z",
    "2026-11-10T16:00:03.1234567Z",  # 7 digits: to_row truncates to microseconds
    "2026-11-10T16:00:03.999999999Z",
    "2026-11-11T00:00:03.120+08:00",
    "2026-11-10T10:30:03.120-05:30",
    "2026-11-10t16:00:03.120z",  # lower case: RFC 3339 allows it
    "2026-12-31T23:59:60Z",  # a leap second: the next second
    "2026-12-31T23:59:60.5Z",
    "2026-12-31T12:59:60Z",  # not at 23:59 UTC: invalid
    "2026-02-30T00:00:00Z",  # not in the calendar
    "2024-02-29T00:00:00Z",
    "2025-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "1900-01-01T00:00:00+01:00",  # before 1900 in UTC
    "1899-12-31T23:59:59Z",  # out of the schema's years
    "2999-12-31T23:59:59.999999-23:59",
    "3000-01-01T00:00:00Z",
    "2026-11-10 16:00:03Z",  # a space: not RFC 3339
    "2026-11-10T16:00:03",  # no offset
    "2026-11-10T16:00:03.120+08",
    "2026-11-10T16:00:03.Z",
    "2026-11-10T24:00:00Z",
    "yesterday",
    "",
    "\uff12\uff10\uff12\uff16-11-10T16:00:03Z",  # full-width digits: \\d is ASCII only
]
EPOCHS = [1794326415275, 946684800000, 4102444800000, 946684799999, 4102444800001, 0, -1]
ODD_VALUES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2.0,
    2.5,
    -0.0,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**63,
    10**30,
    1e300,
    "",
    "199",
    "文字 🚀",
    [],
    [1, "a"],
    {},
    {"nested": {"x": None}},
]
MONEY = [
    0,
    0.0,
    -0.0,
    199,
    199.0,
    459.5,
    1068.12,
    1068.1235,
    1068.123456,  # rounded: the exact value kept in extra
    0.00005,  # a tie: half to even
    0.00015,
    1e-7,
    1e12,
    99999999999999.99,
    99999999999999.9999,
    999999999999999.0,  # beyond decimal(18, 4): null, kept
    1e20,
    2**53 + 1,
    10**30,
    -5.5,
    "199.00",
    True,
    [199],
]


def _example(event_type: str) -> dict[str, Any]:
    version = catalogue.event_types()[event_type]
    return copy.deepcopy(catalogue.load(catalogue.event_path(event_type, version))["examples"][0])


class Mutator:
    def __init__(self, seed: int, rate: float):
        self.rnd = random.Random(seed)
        self.rate = rate

    def event(self, i: int) -> dict[str, Any]:
        rnd = self.rnd
        event = _example(rnd.choice(TYPES))
        event["event_id"] = f"e-{i}"
        event["device_id"] = f"d_{rnd.randrange(10**6)}"
        event["event_time"] = rnd.choice(
            ["2026-11-10T16:00:03.120Z", 1794326415275 + i, f"2026-11-10T1{i % 10}:00:00.{i:03d}Z"]
        )
        event["received_at"] = "2026-11-10T16:00:16.000Z"
        event.update(ip="203.0.113.0", user_agent="Mozilla/5.0", app_id="shop-cn")
        event["schema_version"] = 1
        if rnd.random() < 0.5:
            event["$lib"] = {"name": "surge-web"}
        if rnd.random() < 0.1:
            event["write_key"] = "wk_live_1"
        if rnd.random() < 0.1:
            del event["ts"]
        if self.rate:
            for _ in range(rnd.randrange(1, 5)):
                if rnd.random() < self.rate:
                    self.mutate(event)
        return event

    def mutate(self, event: dict[str, Any]) -> None:
        rnd = self.rnd
        how = rnd.randrange(9)
        if how == 0:  # a column's value replaced by anything
            column = rnd.choice(COLUMNS)
            value = self.value_for(column.kind)
            _put(event, column.path, value)
        elif how == 1:  # an unknown field at some level
            path = rnd.choice(
                [(), ("page",), ("context",), ("context", "campaign"), ("properties",)]
            )
            node = event
            for key in path:
                node = node.setdefault(key, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict):
                node[rnd.choice(["coupon", "x", "url2", "deep"])] = rnd.choice(ODD_VALUES)
        elif how == 2:  # an object that is not an object, or null
            key = rnd.choice(["page", "context", "properties"])
            event[key] = rnd.choice([None, "x", 3, [1], [], {}, True])
        elif how == 3:
            context = event.setdefault("context", {})
            if isinstance(context, dict):
                context["campaign"] = rnd.choice([None, "x", {}, {"name": 5}, {"term": "t"}])
        elif how == 4:  # items of every shape
            props = event.setdefault("properties", {})
            if isinstance(props, dict):
                props["items"] = self.items()
        elif how == 5:  # times
            key = rnd.choice(["event_time", "received_at"])
            event[key] = rnd.choice([*TIMES, *EPOCHS, 1794326415.5, True, None])
        elif how == 6:  # money
            props = event.setdefault("properties", {})
            if isinstance(props, dict):
                props[rnd.choice(["amount", "price"])] = rnd.choice(MONEY)
        elif how == 7:  # a required field absent
            event.pop(
                rnd.choice(["event_id", "type", "event_time", "received_at", "device_id"]), None
            )
        else:  # unicode and empty strings
            event[rnd.choice(["user_id", "session_id", "user_agent"])] = rnd.choice(
                ["", "用户 42", "🚀" * 3, "a\u0000b", "ü" * 300]
            )

    def value_for(self, kind: str) -> Any:
        rnd = self.rnd
        if kind == "timestamp":
            return rnd.choice([*TIMES, *EPOCHS, *ODD_VALUES])
        if kind == "decimal":
            return rnd.choice([*MONEY, *ODD_VALUES])
        if kind == "items":
            return self.items()
        return rnd.choice(ODD_VALUES)

    def items(self) -> Any:
        rnd = self.rnd
        shape = rnd.randrange(6)
        if shape == 0:
            return rnd.choice([None, [], {}, "x", [None], [1, "a"], [{}]])
        items = []
        for _ in range(rnd.randrange(1, 4)):
            item: dict[str, Any] = {
                "sku": rnd.choice(["LIP-1", "SER-2", 7, None]),
                "category": rnd.choice(["lipstick", "serum", None]),
                "price": rnd.choice(MONEY[:12]),
                "quantity": rnd.choice([1, 2, 2.0, 0, -3, "2", 2**31, None]),
            }
            if rnd.random() < 0.3:
                item["gift_wrap"] = rnd.choice([True, {"paper": "red"}])
            if rnd.random() < 0.2:
                del item[rnd.choice(list(item))]
            items.append(item if rnd.random() < 0.95 else rnd.choice([None, 5, "x"]))
        return items


def _put(event: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = event
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def _expected(events: list[Any]) -> tuple[pa.Table, dict[int, str]]:
    """What the reference makes of `events`: to_table of those it maps, why not the others."""
    kept, refused = [], {}
    for i, event in enumerate(events):
        try:
            row = to_row(event)
        except Exception as exc:
            refused[i] = f"{type(exc).__name__}: {exc}"
            continue
        try:
            pa.RecordBatch.from_pylist([row], SCHEMA)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            refused[i] = f"{type(exc).__name__}: {exc}"
            continue
        kept.append(event)
    return to_table(kept), refused


def _assert_same(events: list[Any]) -> None:
    expected, refused = _expected(copy.deepcopy(events))
    mapped = to_record_batch(copy.deepcopy(events))
    got = pa.Table.from_batches([mapped.batch], SCHEMA)
    if not got.equals(expected):
        _explain(got, expected, "to_record_batch")
    assert mapped.refused == refused


def _explain(got: pa.Table, expected: pa.Table, name: str) -> None:
    assert got.num_rows == expected.num_rows, name
    for column in SCHEMA.names:
        a, b = got.column(column).to_pylist(), expected.column(column).to_pylist()
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert (x, type(x)) == (y, type(y)), f"{name}: row {i}, column {column}"
    pytest.fail(f"{name}: tables differ, values equal (types or nulls?)")


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("seed", range(4))
def test_varied_batches_map_as_the_reference(seed, rate):
    mutator = Mutator(seed * 100 + int(rate * 10), rate)
    rnd = random.Random(seed)
    for _ in range(12):
        size = rnd.choice([1, 2, 7, 40, 150])
        _assert_same([mutator.event(i) for i in range(size)])


def test_a_large_plain_batch_maps_as_the_reference():
    mutator = Mutator(7, 0.0)
    _assert_same([mutator.event(i) for i in range(1200)])


def test_a_large_lightly_mutated_batch_maps_as_the_reference():
    mutator = Mutator(8, 0.05)
    _assert_same([mutator.event(i) for i in range(1200)])


@pytest.mark.parametrize("event_type", TYPES)
def test_each_example_maps_as_the_reference(event_type, enrich):
    _assert_same([enrich(_example(event_type)) for _ in range(3)])


def test_every_odd_value_in_every_column(enrich):
    base = enrich(_example("order_placed"))
    values = [*ODD_VALUES, *MONEY, *TIMES, *EPOCHS]
    events = []
    for column in COLUMNS:  # one column off at a time, in one batch
        for value in values:
            event = copy.deepcopy(base)
            _put(event, column.path, value)
            events.append(event)
    _assert_same(events)
    for value in values:  # every column the same: whole kinds of columns off at once
        event = copy.deepcopy(base)
        for column in COLUMNS:
            _put(event, column.path, value)
        _assert_same([event, copy.deepcopy(event)])


def test_homogeneous_time_columns(enrich):
    base = enrich(_example("page_view"))
    for values in (
        ["2026-11-10T16:00:03.120Z", "2026-11-10T16:00:04Z"],
        [1794326415275, 1794326415276],
        [1794326415275, None],
        ["2026-11-10T16:00:03.120Z", "2026-11-10t16:00:04z"],
        ["2026-11-10T16:00:03.120Z", "2026-02-30T00:00:00Z"],
        ["2026-11-10T16:00:03.120Z", 1794326415275],
        [None, None],
    ):
        events = []
        for value in values:
            event = copy.deepcopy(base)
            event["event_time"] = value
            events.append(event)
        _assert_same(events)


def test_no_events():
    _assert_same([])


def test_values_json_cannot_hold_are_refused_as_the_reference_refuses_them(enrich):
    base = enrich(_example("page_view"))
    events = [copy.deepcopy(base) for _ in range(4)]
    events[1]["unknown"] = {1, 2}  # not JSON: to_row raises
    events[2]["big"] = 10**30  # beyond 64 bits: kept through the json module
    events[3]["user_id"] = "\ud800"  # a lone surrogate: Arrow refuses the row
    _assert_same(events)
    mapped = to_record_batch(events)
    assert sorted(mapped.refused) == [1, 3]
    assert json.loads(mapped.batch.column(EXTRA)[1].as_py())["big"] == 10**30


def test_objects_that_are_not_plain_dicts_are_mapped_as_dicts(enrich):
    event = enrich(_example("order_placed"))
    event["page"] = OrderedDict(event["page"], extra_key=1)
    _assert_same([event, enrich(_example("search"))])
    mapping = enrich(_example("search"))
    _assert_same([OrderedDict(mapping)])


# -- the native path: record values as the collector writes them (schemas/record.py) -----------


def _record_values(events: list[Any]) -> list[bytes]:
    """The record values of these events, as the collector writes them; not of those it
    refuses: values JSON cannot hold, integers beyond 64 bits (the validator stops at 2^53)."""
    values = []
    for event in events:
        try:
            value = orjson.dumps(split_extra(copy.deepcopy(event)))
        except (TypeError, orjson.JSONEncodeError):
            continue
        if not _huge_int(event):
            values.append(value)
    return values


def _huge_int(value: Any) -> bool:
    if isinstance(value, dict):
        return any(map(_huge_int, value.values()))
    if isinstance(value, list):
        return any(map(_huge_int, value))
    return type(value) is int and not -(2**63) <= value < 2**64


def _native_or_reference(values: list[bytes]) -> bool:
    """Asserts that the native rows of `values`, if any, are the reference's rows of their
    events; returns whether the native path took them."""
    native = from_values(values)
    if native is None:
        return False
    expected, refused = _expected([join_extra(orjson.loads(v)) for v in values])
    assert refused == {}
    got = pa.Table.from_batches([native], SCHEMA)
    if not got.equals(expected):
        _explain(got, expected, "from_values")
    return True


def _plain(event: dict[str, Any]) -> dict[str, Any]:
    """The event with the times the collector writes (RFC 3339, milliseconds, UTC)."""
    return {**event, "event_time": "2026-11-10T16:00:03.120Z"}


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("seed", range(4))
def test_native_rows_are_the_reference_rows_value_by_value(seed, rate):
    """One value at a time, so that a refused value cannot hide a wrong one."""
    mutator = Mutator(seed * 100 + int(rate * 10), rate)
    values = _record_values([_plain(mutator.event(i)) for i in range(150)])
    taken = sum(_native_or_reference([value]) for value in values)
    if rate <= 0.1:
        assert taken > len(values) // 2  # the common case does take the native path


def test_a_large_plain_poll_is_read_natively_as_the_reference_maps_it():
    mutator = Mutator(7, 0.0)
    assert _native_or_reference(_record_values([_plain(mutator.event(i)) for i in range(1200)]))


def test_every_odd_value_in_every_column_natively_or_not_at_all(enrich):
    base = _plain(enrich(_example("order_placed")))
    for column in COLUMNS:
        for value in [*ODD_VALUES, *MONEY, *TIMES, *EPOCHS]:
            event = copy.deepcopy(base)
            _put(event, column.path, value)
            _native_or_reference(_record_values([event]))


@pytest.mark.parametrize(
    "amount",
    [0, 1, 199.99, 0.1 + 0.2, 1068.1235, 1068.123456, 0.00005, 1e-43, 5e-324, 99999999999.99, 1e11],
)
def test_money_is_native_only_where_it_is_exactly_a_decimal_of_scale_4(enrich, amount):
    event = _plain(enrich(_example("payment_succeeded")))
    event["properties"]["amount"] = amount
    values = _record_values([event])
    taken = _native_or_reference(values)
    exact = Decimal(repr(amount)) == Decimal(repr(amount)).quantize(Decimal("0.0001"))
    assert taken == (exact and amount < 10**11)


def _plain_value(enrich: Callable) -> bytes:
    return _record_values([_plain(enrich(_example("order_placed")))])[0]


@pytest.mark.parametrize(
    "odd",
    [
        None,  # a tombstone
        b"",
        b" {}",
        b'{"a": 1}',  # not split: an unknown key
        b"[]",
        b"{}",  # no required fields
        b'{"event_id": "e"}{"event_id": "f"}',  # two objects in one value
        b'{"event_id": "\xff"}',  # not UTF-8
        b'{"event_id": "e", "event_id": "f"}',  # a key twice
    ],
)
def test_a_value_the_native_reader_cannot_map_exactly_sends_the_poll_back(enrich, odd):
    plain = _plain_value(enrich)
    assert from_values([plain, plain]) is not None
    assert from_values([plain, odd, plain]) is None


def test_a_line_break_inside_a_value_sends_the_poll_back(enrich):
    plain = _plain_value(enrich)
    split_in_two = plain.replace(b',"type"', b',\n"type"', 1)
    assert orjson.loads(split_in_two) == orjson.loads(plain)
    assert from_values([plain, split_in_two]) is None
    two_rows = plain + b"\n" + plain  # one value, two events
    assert from_values([two_rows, b" "]) is None
