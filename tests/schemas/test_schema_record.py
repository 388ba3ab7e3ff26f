"""The Kafka record value: split_extra moves what has no column into `extra`, join_extra puts
it back, and `extra` is the very text the landed table holds."""

import copy

import orjson

from schemas.columns import EXTRA
from schemas.record import join_extra, split_extra
from stream.rows import to_row


def _event(enrich, example, event_type="order_placed"):
    return enrich(example(event_type))


def test_unknown_keys_at_every_level_move_into_extra_nested_as_in_the_event(enrich, example):
    event = _event(enrich, example)
    event["$lib"] = {"name": "surge-web"}
    event["page"]["scroll"] = 0.5
    event["context"]["campaign"] = {"source": "weibo", "term": "lipstick"}
    event["properties"]["coupon"] = "D11-50"
    event["properties"]["items"][0]["gift_wrap"] = True
    items = len(event["properties"]["items"])
    record = split_extra(copy.deepcopy(event))

    assert orjson.loads(record[EXTRA]) == {
        "$lib": {"name": "surge-web"},
        "ts": event["ts"],
        "page": {"scroll": 0.5},
        "context": {"campaign": {"term": "lipstick"}},
        "properties": {"coupon": "D11-50", "items": [{"gift_wrap": True}] + [{}] * (items - 1)},
    }
    assert "$lib" not in record and "ts" not in record
    assert record["page"].keys() == {"url", "referrer", "title"} & event["page"].keys()
    assert record["context"]["campaign"] == {"source": "weibo"}
    assert "coupon" not in record["properties"]
    assert "gift_wrap" not in record["properties"]["items"][0]
    assert record[EXTRA] == to_row(event)[EXTRA]  # the text the landed table holds


def test_the_event_and_its_objects_are_left_as_they_are(enrich, example):
    event = _event(enrich, example)
    event["properties"]["coupon"] = "D11-50"
    before = copy.deepcopy(event)
    split_extra(event)
    assert event == before


def test_an_event_with_nothing_unknown_is_its_own_record(enrich, example):
    known = split_extra(_event(enrich, example))
    del known[EXTRA]
    assert split_extra(known) is known


def test_a_client_extra_is_an_unknown_key_and_write_key_is_dropped(enrich, example):
    event = _event(enrich, example, "page_view")
    event[EXTRA] = '{"forged": true}'
    event["write_key"] = "wk_live_1"
    record = split_extra(event)
    assert orjson.loads(record[EXTRA]) == {"extra": '{"forged": true}', "ts": event["ts"]}
    assert "write_key" not in record[EXTRA]
    assert to_row(join_extra(orjson.loads(orjson.dumps(record)))) == to_row(event)


def test_items_that_are_not_objects_stay_and_are_kept_by_position(enrich, example):
    event = _event(enrich, example)
    event["properties"]["items"] = [None, "x", {"sku": "LIP-1", "gift_wrap": True}]
    record = split_extra(event)
    assert record["properties"]["items"] == [None, "x", {"sku": "LIP-1"}]
    assert orjson.loads(record[EXTRA])["properties"]["items"] == [None, "x", {"gift_wrap": True}]
    assert record[EXTRA] == to_row(event)[EXTRA]


def test_join_is_the_inverse_for_every_example(enrich, example, event_type):
    event = _event(enrich, example, event_type)
    event["properties"] = {**(event.get("properties") or {}), "coupon": "D11-50"}
    event["context"]["campaign"] = {"source": "weibo", "term": "x"}
    value = orjson.loads(orjson.dumps(split_extra(event)))
    joined = join_extra(value)
    assert joined == orjson.loads(orjson.dumps(event))
    assert to_row(joined) == to_row(event)


def test_a_value_whose_extra_is_not_an_object_text_is_returned_as_it_is():
    for value in ({"extra": "not json"}, {"extra": "[1]"}, {"extra": 5}, {"type": "x"}):
        assert join_extra(value) is value


def test_join_merges_only_what_split_can_have_taken(enrich, example):
    """An `extra` the collector did not make (an old record whose client sent one) stays an
    unknown key: it never overwrites a column nor a key the value has."""
    value = orjson.loads(orjson.dumps(_event(enrich, example, "page_view")))
    for forged in (
        {"event_time": "2001-01-01T00:00:00Z"},  # a column
        {"device_id": "someone_else", "coupon": 1},
        {"page": {"url": "https://elsewhere.example/"}},  # a column inside an object
        {"page": "x"},  # an object that is not one
        {"ts": 1, "type": "refund"},
        {"properties": {"items": [{"gift_wrap": True}]}},  # items the value does not have
    ):
        forged_value = {**value, EXTRA: orjson.dumps(forged).decode()}
        assert join_extra(forged_value) is forged_value
        row = to_row(forged_value)
        assert (row["event_time"], row["device_id"]) == (
            to_row(value)["event_time"],
            to_row(value)["device_id"],
        )
        assert orjson.loads(row[EXTRA])[EXTRA] == forged_value[EXTRA]
