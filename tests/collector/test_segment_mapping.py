"""Segment calls -> catalogue events (collector/segment.py), checked against the real schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from collector.segment import to_catalogue, to_event
from collector.settings import SegmentMapping
from schemas import segment as contract
from schemas.validator import EventValidator

TS, SENT = "2026-11-10T16:00:03.120Z", "2026-11-10T16:00:04.000Z"
MAPPING = SegmentMapping()

# What analytics-next sends from a browser, trimmed to what matters.
BROWSER_CONTEXT = {
    "library": {"name": "analytics.js", "version": "npm:next-1.84.3"},
    "locale": "zh-CN",
    "page": {
        "path": "/p/lip-0042",
        "referrer": "https://www.example.com/",
        "search": "?utm_source=weibo",
        "title": "Lipstick",
        "url": "https://shop.example.com/p/lip-0042?utm_source=weibo",
    },
    "campaign": {"source": "weibo", "medium": "social", "name": "double11", "term": "red"},
    "userAgent": "Mozilla/5.0",
}


@pytest.fixture(scope="module")
def validator() -> EventValidator:
    return EventValidator.load()


def call(kind: str, **fields: Any) -> dict[str, Any]:
    base = {
        "type": kind,
        "messageId": "ajs-next-1731254403120-7c1e4b3a",
        "anonymousId": "a7f3c2a9-0000-4000-8000-000000000001",
        "timestamp": TS,
        "context": copy.deepcopy(BROWSER_CONTEXT),
    }
    return base | fields


def track(name: str, properties: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return call("track", event=name, properties=properties, **fields)


def test_page_is_a_page_view_with_every_common_field(validator):
    event = to_event(call("page", name="Lipstick", userId="u_1", sentAt=SENT), MAPPING)
    assert event == {
        "type": "page_view",
        "ts": TS,
        "event_id": "ajs-next-1731254403120-7c1e4b3a",
        "device_id": "a7f3c2a9-0000-4000-8000-000000000001",
        "user_id": "u_1",
        "sent_at": SENT,
        "page": {
            "url": "https://shop.example.com/p/lip-0042?utm_source=weibo",
            "referrer": "https://www.example.com/",
            "title": "Lipstick",
        },
        "context": {
            "platform": "web",
            "locale": "zh-CN",
            "campaign": {"source": "weibo", "medium": "social", "name": "double11"},
        },
    }
    assert validator.validate(event) is None


def test_a_server_page_takes_its_page_from_properties_and_name():
    server = call(
        "page",
        name="Home",
        context={"library": {"name": "@segment/analytics-node", "version": "3.1.0"}},
        properties={"url": "https://shop.example.com/", "referrer": None},
    )
    event = to_event(server, MAPPING)
    assert event["page"] == {"url": "https://shop.example.com/", "title": "Home"}
    assert event["context"] == {"platform": "server"}


def test_screen_is_a_page_view_titled_by_its_name(validator):
    event = to_event(call("screen", name="Cart", context={"app": {"version": "5.2.0"}}), MAPPING)
    assert event["type"] == "page_view"
    assert event["page"] == {"title": "Cart"}
    assert event["context"] == {"app_version": "5.2.0"}
    assert validator.validate(event) is None


def test_rudderstack_fields_original_timestamp_and_session(validator):
    rudder = call(
        "track",
        event="Products Searched",
        properties={"query": "red lipstick"},
        context={"library": {"name": "RudderLabs JavaScript SDK"}, "sessionId": 1731254400123},
    )
    rudder["originalTimestamp"] = rudder.pop("timestamp")
    event = to_event(rudder, MAPPING)
    assert (event["type"], event["ts"], event["session_id"]) == ("search", TS, "1731254400123")
    assert event["properties"] == {"query": "red lipstick"}
    assert event["context"]["platform"] == "web"
    assert validator.validate(event) is None


def test_rudderstack_anonymous_calls_have_no_user_and_direct_is_no_referrer(validator):
    # RudderStack's JS SDK sends userId "" until identify, and "$direct" for no referrer,
    # in context.page and in a page's properties alike.
    direct = {"url": "https://shop.example.com/", "referrer": "$direct", "title": "Home"}
    rudder = call(
        "page",
        userId="",
        name="Home",
        properties=dict(direct),
        context={"library": {"name": "RudderLabs JavaScript SDK"}, "page": dict(direct)},
    )
    for event in (to_event(rudder, MAPPING), to_event(rudder | {"context": {}}, MAPPING)):
        assert "user_id" not in event
        assert event["page"].get("referrer") is None
        assert (event["page"]["url"], event["page"]["title"]) == (direct["url"], "Home")
        assert validator.validate(event) is None


@pytest.mark.parametrize(
    ("name", "kind"), [("Product Viewed", "product_view"), ("Product Added", "add_to_cart")]
)
def test_products_sku_from_product_id_and_one_unit(validator, name, kind):
    properties = {"product_id": 42, "category": "lipstick", "price": 199.0, "brand": "Rouge"}
    event = to_event(track(name, properties), MAPPING)
    assert event["type"] == kind
    expected = properties | {"sku": "42"} | ({"quantity": 1} if kind == "add_to_cart" else {})
    assert event["properties"] == expected
    assert validator.validate(event) is None


def test_product_removed_keeps_its_sku_and_quantity(validator):
    properties = {"sku": "LIP-1", "product_id": "p1", "category": "c", "price": 1, "quantity": 3}
    event = to_event(track("Product Removed", properties), MAPPING)
    assert event["type"] == "remove_from_cart"
    assert event["properties"] == properties
    assert validator.validate(event) is None


ORDER = {
    "order_id": 50314,
    "total": 1068.0,
    "revenue": 1040.0,
    "shipping": 28.0,
    "currency": "CNY",
    "coupon": "D11-50",
    "products": [
        {"product_id": "p1", "sku": "LIP-0042-RED", "category": "lipstick", "price": 199.0},
        {"product_id": "p7", "category": "serum", "price": 459.5, "quantity": 2},
    ],
}
ITEMS = [
    {
        "product_id": "p1",
        "sku": "LIP-0042-RED",
        "category": "lipstick",
        "price": 199.0,
        "quantity": 1,
    },
    {"product_id": "p7", "sku": "p7", "category": "serum", "price": 459.5, "quantity": 2},
]


def test_order_completed_is_order_placed_with_items_and_total(validator):
    event = to_event(track("Order Completed", ORDER), MAPPING)
    assert event["type"] == "order_placed"
    properties = event["properties"]
    assert (properties["order_id"], properties["amount"], properties["currency"]) == (
        "50314",
        1068.0,
        "CNY",
    )
    assert properties["items"] == ITEMS
    assert "products" not in properties
    assert properties["coupon"] == "D11-50"  # kept: it lands in `extra`
    assert validator.validate(event) is None


def test_checkout_started_amount_is_its_value_and_currency_defaults(validator):
    started = {"value": 1040.0, "revenue": 1000.0, "products": ORDER["products"]}
    event = to_event(track("Checkout Started", started), MAPPING)
    assert event["type"] == "begin_checkout"
    assert (event["properties"]["amount"], event["properties"]["currency"]) == (1040.0, "USD")
    assert event["properties"]["items"] == ITEMS
    assert validator.validate(event) is None
    empty = to_event(track("Checkout Started", {"value": 0, "products": []}), MAPPING)
    assert "items" not in empty["properties"]
    assert validator.validate(empty) is None


def test_order_refunded_and_payment(validator):
    refund = to_event(track("Order Refunded", {"order_id": "SO-1", "total": 199}), MAPPING)
    assert refund["type"] == "refund"
    assert refund["properties"] == {"order_id": "SO-1", "total": 199, "amount": 199} | {
        "currency": "USD"
    }
    assert validator.validate(refund) is None
    paid = {"order_id": "SO-1", "revenue": 1068.0, "currency": "CNY", "payment_method": "alipay"}
    payment = to_event(track("Payment Succeeded", paid, userId="u_9"), MAPPING)
    assert payment["type"] == "payment_succeeded"
    assert payment["properties"]["method"] == "alipay"
    assert payment["properties"]["amount"] == 1068.0
    assert validator.validate(payment) is None


def test_server_calls_without_anonymous_id_use_the_user_as_device():
    paid = track("Payment Succeeded", {}, userId=93121)
    del paid["anonymousId"]
    event = to_event(paid, MAPPING)
    assert (event["device_id"], event["user_id"]) == ("user:93121", "93121")


def test_names_platform_and_currency_per_write_key(validator):
    own = SegmentMapping(
        track_events={"Paid": "payment_succeeded"}, platform="mini_program", currency="CNY"
    )
    event = to_event(track("Paid", {"order_id": "SO-1", "total": 5, "method": "wechat"}), own)
    assert event["type"] == "payment_succeeded"
    assert event["context"]["platform"] == "mini_program"
    assert event["properties"]["currency"] == "CNY"
    assert validator.validate(event) is None
    assert to_catalogue([track("Payment Succeeded", {})], own).dropped == {"track_unmapped": 1}


def test_identify_links_user_and_device_and_keeps_no_traits(validator):
    event = to_event(call("identify", userId="u_93121", traits={"email": "a@b.c"}), MAPPING)
    assert event["type"] == "identify"
    assert (event["user_id"], event["device_id"]) == (
        "u_93121",
        "a7f3c2a9-0000-4000-8000-000000000001",
    )
    assert "traits" not in event and "properties" not in event
    assert validator.validate(event) is None


def test_calls_the_reports_cannot_use_are_dropped_and_counted():
    calls = [
        call("alias", previousId="a1", userId="u1"),
        call("group", groupId="g1"),
        call("identify", traits={"plan": "gold"}),  # anonymous: links nothing
        track("Coupon Applied", {"coupon": "D11"}),
        track(None, {}),
        call("page"),
    ]
    mapped = to_catalogue(calls, MAPPING)
    assert [e["type"] for e in mapped.events] == ["page_view"]
    assert mapped.dropped == {
        "alias": 1,
        "group": 1,
        "identify_anonymous": 1,
        "track_unmapped": 2,
    }
    assert set(mapped.dropped) <= set(contract.DROPPED)  # every reason is documented


def test_a_track_whose_event_name_is_not_a_string_is_an_unknown_name():
    for name in (["Product Viewed"], {"n": 1}, 7, None):
        mapped = to_catalogue([track(name, {})], MAPPING)
        assert (mapped.events, mapped.dropped) == ([], {"track_unmapped": 1})


def test_bad_calls_are_passed_on_for_the_validator_to_reject(validator):
    no_price = track("Product Added", {"sku": "LIP-1", "category": "lipstick"})
    no_device = call("page")
    del no_device["anonymousId"]
    calls = ["not a call", {"type": "teleport"}, no_price, no_device, call("page", timestamp=None)]
    mapped = to_catalogue(calls, MAPPING)
    assert mapped.events[:2] == ["not a call", {"type": "teleport"}]  # as sent, for the DLQ
    assert [validator.validate(e).message for e in mapped.events] == [
        "event: must be an object",
        "type: unknown event type 'teleport'",
        "properties.price: required",
        "device_id: required",
        "ts: required",
    ]


def test_batch_sent_at_and_endpoint_type_fill_in_what_a_call_lacks():
    untyped = call("track", event="Products Searched", properties={"query": "q"})
    del untyped["type"]
    own = call("page", sentAt="2026-11-10T16:00:05.000Z")
    mapped = to_catalogue([untyped, own], MAPPING, call_type="track", sent_at=SENT)
    assert [(e["type"], e["sent_at"]) for e in mapped.events] == [
        ("search", SENT),
        ("page_view", "2026-11-10T16:00:05.000Z"),
    ]


def test_default_names_are_the_contract():
    assert MAPPING.track_events == contract.TRACK_EVENTS
    with pytest.raises(ValueError, match="not catalogue types"):
        SegmentMapping(track_events={"Teleported": "teleport"})
