"""An enriched event -> its row: typed columns, and the rest kept in `extra`."""

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq

from schemas.arrow import arrow_schema
from schemas.columns import COLUMNS, EXTRA, ITEM_COLUMNS
from stream.rows import to_row, to_table


def test_order_row(example, enrich):
    event = enrich(example("order_placed"))
    row = to_row(event)
    assert row["event_time"] == datetime(2026, 11, 10, 16, 0, 15, 275000, tzinfo=UTC)
    assert row["received_at"] == datetime(2026, 11, 10, 16, 0, 16, tzinfo=UTC)
    assert row["amount"] == Decimal("1068.0000")
    assert row["currency"] == "CNY"
    assert row["items"][1] == {
        "sku": "SER-0007-30ML", "category": "serum", "price": Decimal("459.5"), "quantity": 2,
    }  # fmt: skip
    assert (row["page_url"], row["platform"], row["campaign_name"]) == (
        "https://shop.example.com/checkout", "web", "double11",
    )  # fmt: skip
    # The client time and the unknown `coupon` are kept; nothing else is left over.
    assert json.loads(row[EXTRA]) == {
        "ts": "2026-11-11T00:00:15.275+08:00",
        "properties": {"coupon": "D11-50"},
    }


def test_every_example_makes_a_table(example, enrich, event_type):
    table = to_table([enrich(example(event_type))] * 3)
    assert table.schema == arrow_schema()
    assert table.num_rows == 3


def test_unknown_fields_at_every_level_land_in_extra(example, enrich):
    event = enrich(example("order_placed"))
    event["anonymous_id"] = "a_1"
    event["page"]["path"] = "/checkout"
    event["context"]["campaign"]["term"] = "lipstick"
    event["properties"]["items"][1]["gift_wrap"] = True
    assert json.loads(to_row(event)[EXTRA]) == {
        "anonymous_id": "a_1",
        "ts": "2026-11-11T00:00:15.275+08:00",
        "page": {"path": "/checkout"},
        "context": {"campaign": {"term": "lipstick"}},
        # Items line up with the column's items: the first had nothing more.
        "properties": {"coupon": "D11-50", "items": [{}, {"gift_wrap": True}]},
    }


def test_money_beyond_the_scale_is_rounded_and_kept_exact_in_extra(example, enrich):
    event = enrich(example("payment_succeeded"))
    event["properties"]["amount"] = 1068.123456
    row = to_row(event)
    assert row["amount"] == Decimal("1068.1235")
    assert json.loads(row[EXTRA])["properties"] == {"amount": 1068.123456}


def test_a_value_of_the_wrong_type_is_null_and_kept_whole(example, enrich):
    # Validation makes this impossible; the lander must still never choke on a row.
    event = enrich(example("add_to_cart"))
    event["page"] = "https://shop.example.com/"
    event["properties"]["quantity"] = "2"
    event["properties"]["price"] = True
    row = to_row(event)
    assert (row["page_url"], row["quantity"], row["price"]) == (None, None, None)
    extra = json.loads(row[EXTRA])
    assert extra["page"] == "https://shop.example.com/"
    assert extra["properties"] == {"quantity": "2", "price": True}
    to_table([event])


def test_an_integral_float_is_an_integer(example, enrich):
    event = enrich(example("add_to_cart"))
    event["properties"]["quantity"] = 2.0
    assert to_row(event)["quantity"] == 2
    assert to_row(event)[EXTRA] == '{"ts":"2026-11-11T00:00:07.310+08:00"}'


def test_nulls_are_nulls(example, enrich):
    event = enrich(example("page_view"))
    event.update(user_id=None, context=None)
    event["page"]["referrer"] = None
    row = to_row(event)
    assert (row["user_id"], row["platform"], row["page_referrer"]) == (None, None, None)
    assert json.loads(row[EXTRA]) == {"ts": event["ts"]}


def test_an_integer_json_allows_but_orjson_cannot_write_is_kept(example, enrich):
    event = enrich(example("page_view"))
    event["big"] = 10**30
    assert json.loads(to_row(event)[EXTRA])["big"] == 10**30


def test_the_write_key_is_not_landed(example, enrich):
    event = enrich(example("page_view"))
    event["write_key"] = "wk_live_3b1f"
    assert "write_key" not in json.loads(to_row(event)[EXTRA])


def rebuild(row: dict[str, Any]) -> dict[str, Any]:
    """The event back from its row: the inverse of to_row, to prove nothing is lost."""
    event = json.loads(row[EXTRA]) if row[EXTRA] else {}
    for column in COLUMNS:
        value = row[column.name]
        if value is None:
            continue
        if column.name == "items":
            rests = _get(event, column.path) or [{}] * len(value)
            merged = [_merge_item(rest, item) for rest, item in zip(rests, value, strict=True)]
            _put(event, column.path, merged, replace=True)
        else:
            _put(event, column.path, _json_value(value))
    return event


def _merge_item(rest: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    return {**{c.name: _json_value(item[c.name]) for c in ITEM_COLUMNS}, **rest}


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def _get(event: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        event = event.get(key, {}) if isinstance(event, dict) else {}
    return event or None


def _put(event: dict[str, Any], path: tuple[str, ...], value: Any, replace: bool = False) -> None:
    for key in path[:-1]:
        event = event.setdefault(key, {})
    if replace:
        event[path[-1]] = value
    else:
        event.setdefault(path[-1], value)  # an exact value kept in extra wins over a rounded one


def _without_mapped_nulls(event: dict[str, Any]) -> dict[str, Any]:
    # A null in a typed column means absent: that is the one thing the table does not keep.
    event = copy.deepcopy(event)
    for column in COLUMNS:
        *parents, leaf = column.path
        node = _get(event, tuple(parents)) if parents else event
        if isinstance(node, dict) and leaf in node and node[leaf] is None:
            del node[leaf]
    return event


def test_rows_are_lossless(example, enrich, event_type):
    event = enrich(example(event_type))
    event["received_at"] = 1794326416000
    event["properties"] = {**event.get("properties", {}), "note": {"deep": [1, {"x": None}]}}
    for item in event["properties"].get("items", []):
        item["brand"] = "Surge"
    assert rebuild(to_row(copy.deepcopy(event))) == _without_mapped_nulls(event)


def test_parquet_keeps_the_schema_and_the_values(tmp_path, example, enrich):
    events = [enrich(example(t)) for t in ("order_placed", "page_view", "refund")]
    pq.write_table(to_table(events), tmp_path / "part.parquet", store_decimal_as_integer=True)
    table = pq.read_table(tmp_path / "part.parquet")
    assert table.schema.remove_metadata() == arrow_schema()
    assert table.column("amount").to_pylist() == [Decimal("1068"), None, Decimal("199")]
