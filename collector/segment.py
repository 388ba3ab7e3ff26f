"""Segment's Tracking API calls translated into catalogue events (the mapping: schemas/README.md).

    mapped = to_catalogue(calls, mapping)   # mapped.events: catalogue-shaped, not validated yet

Knows nothing of HTTP (segment_api.py serves it) and checks nothing the schemas check: a call
is translated as well as it can be and its event then goes through the same validation,
enrichment and DLQ as one sent to /v1 (a Product Added without a price is rejected there with
``properties.price: required``). A call that is not an object, or of an unknown ``type``, is
passed on as it came, so that the validator rejects it and the DLQ keeps it whole. Calls the
catalogue has no use for (alias, group, an anonymous identify, a track of an unmapped name) are
dropped and counted by their reason, never rejected: a Segment SDK would retry or drop its batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from collector.settings import SegmentMapping
from schemas.segment import AMOUNT_SOURCES, LIBRARY_PLATFORMS, NO_REFERRER

# The calls of one-call endpoints (/segment/v1/t...) may leave out their type: the path says it.
PATH_CALLS = {
    "t": "track",
    "track": "track",
    "p": "page",
    "page": "page",
    "s": "screen",
    "screen": "screen",
    "i": "identify",
    "identify": "identify",
    "g": "group",
    "group": "group",
    "a": "alias",
    "alias": "alias",
}
_PRODUCT_TYPES = frozenset({"product_view", "add_to_cart", "remove_from_cart"})
_ORDER_TYPES = frozenset({"begin_checkout", "order_placed"})
_PAGE_FIELDS = ("url", "referrer", "title")


@dataclass(frozen=True, slots=True)
class Dropped:
    """A call answered but not stored, and why (a label of schemas/segment.py DROPPED)."""

    reason: str


_ALIAS, _GROUP = Dropped("alias"), Dropped("group")
_ANONYMOUS, _UNMAPPED = Dropped("identify_anonymous"), Dropped("track_unmapped")


@dataclass(slots=True)
class Mapped:
    events: list[Any] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)  # by reason (schemas/segment.py)


def to_catalogue(
    calls: list[Any],
    mapping: SegmentMapping,
    call_type: str | None = None,
    sent_at: Any = None,
) -> Mapped:
    """The events of ``calls``. ``call_type``: the one-call endpoint's, for a call without;
    ``sent_at``: the batch's, for a call without its own."""
    mapped = Mapped()
    for call in calls:
        event = to_event(call, mapping, call_type, sent_at)
        if type(event) is Dropped:
            mapped.dropped[event.reason] += 1
        else:
            mapped.events.append(event)
    return mapped


def to_event(
    call: Any, mapping: SegmentMapping, call_type: str | None = None, sent_at: Any = None
) -> Any:
    """One call's event (or the call itself, for the validator to reject), or ``Dropped``."""
    if type(call) is not dict:
        return call
    kind = call.get("type") or call_type
    if kind == "track":
        name = call.get("event")
        event_type = mapping.track_events.get(name) if type(name) is str else None
        if event_type is None:
            return _UNMAPPED
        event = _common(call, event_type, mapping, sent_at)
        properties = call.get("properties")
        event["properties"] = _properties(
            event_type, properties if type(properties) is dict else {}, mapping
        )
        return event
    if kind in ("page", "screen"):
        event = _common(call, "page_view", mapping, sent_at)
        event["page"] = _page_of_call(call, kind, event.get("page"))
        return event
    if kind == "identify":
        if call.get("userId") in (None, ""):
            return _ANONYMOUS
        return _common(call, "identify", mapping, sent_at)
    if kind == "alias":
        return _ALIAS
    if kind == "group":
        return _GROUP
    return call  # not a Segment call: the validator says what is wrong with it


def _common(
    call: dict[str, Any], event_type: str, mapping: SegmentMapping, sent_at: Any
) -> dict[str, Any]:
    """The fields every call has (the table "Every call's fields" of schemas/README.md)."""
    event: dict[str, Any] = {"type": event_type}
    ts = call.get("timestamp") or call.get("originalTimestamp")
    if ts is not None:
        event["ts"] = ts
    if call.get("messageId") is not None:
        event["event_id"] = call["messageId"]
    user_id = _id(call.get("userId"))
    device_id = _id(call.get("anonymousId"))
    user_id = None if user_id == "" else user_id  # RudderStack's JS SDK: "" before identify
    device_id = None if device_id == "" else device_id
    if device_id is None and type(user_id) is str and user_id:
        device_id = "user:" + user_id  # a server-side call knows the user only
    if device_id is not None:
        event["device_id"] = device_id
    if user_id is not None:
        event["user_id"] = user_id
    sent_at = call.get("sentAt", sent_at)
    if sent_at is not None:
        event["sent_at"] = sent_at
    context = call.get("context")
    if type(context) is not dict:
        context = {}
    session = _id(context.get("sessionId"))
    if session is not None:
        event["session_id"] = session
    page = context.get("page")
    if type(page) is dict:
        event["page"] = _page_fields(page)
    event["context"] = _context(context, mapping)
    return event


def _context(context: dict[str, Any], mapping: SegmentMapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    platform = mapping.platform or _platform(context.get("library"))
    if platform is not None:
        out["platform"] = platform
    app = context.get("app")
    if type(app) is dict and app.get("version") is not None:
        out["app_version"] = app["version"]
    if context.get("locale") is not None:
        out["locale"] = context["locale"]
    campaign = context.get("campaign")
    if type(campaign) is dict:
        kept = {k: campaign[k] for k in ("source", "medium", "name") if k in campaign}
        if kept:
            out["campaign"] = kept
    return out


def _platform(library: Any) -> str | None:
    name = library.get("name") if type(library) is dict else None
    return LIBRARY_PLATFORMS.get(name) if type(name) is str else None


def _page_fields(page: dict[str, Any]) -> dict[str, Any]:
    """The catalogue's fields of a page object; RudderStack's "$direct" referrer is none."""
    fields = {k: page[k] for k in _PAGE_FIELDS if k in page}
    if fields.get("referrer") == NO_REFERRER:
        fields["referrer"] = None
    return fields


def _page_of_call(call: dict[str, Any], kind: str, page: dict[str, Any] | None) -> dict:
    """context.page, completed by what the page call says of itself (analytics-node has no
    context.page); a screen is named by its name."""
    page = dict(page or {})
    properties = call.get("properties")
    if kind == "page" and type(properties) is dict:
        for key, value in _page_fields(properties).items():
            if page.get(key) is None and value is not None:
                page[key] = value
    if page.get("title") is None and call.get("name") is not None:
        page["title"] = call["name"]
    return page


def _properties(
    event_type: str, properties: dict[str, Any], mapping: SegmentMapping
) -> dict[str, Any]:
    """Segment's e-commerce v2 properties as the catalogue's; the others are kept as sent."""
    if event_type in _PRODUCT_TYPES:
        out = _product(properties, one_unit=event_type != "product_view")
    else:
        out = dict(properties)
    if event_type in _ORDER_TYPES and "products" in out:
        products = out.pop("products")
        if type(products) is list:
            products = [_product(p, one_unit=True) if type(p) is dict else p for p in products]
        if products or event_type == "order_placed":  # begin_checkout's items are optional
            out["items"] = products
    sources = AMOUNT_SOURCES.get(event_type)
    if sources is not None:
        amount = next((properties[s] for s in sources if properties.get(s) is not None), None)
        if amount is not None:
            out["amount"] = amount
        if properties.get("currency") is None:
            out["currency"] = mapping.currency
    if "order_id" in out:
        out["order_id"] = _id(out["order_id"])
    method = properties.get("payment_method")
    if event_type == "payment_succeeded" and out.get("method") is None and method is not None:
        out["method"] = method
    return out


def _product(product: dict[str, Any], one_unit: bool) -> dict[str, Any]:
    """A product as the catalogue's: ``sku`` from ``product_id`` when absent and, when
    ``one_unit``, one unit when no quantity is given."""
    out = dict(product)
    sku = product.get("sku")
    if sku is None:
        sku = product.get("product_id")
    if sku is not None:
        out["sku"] = _id(sku)
    if one_unit and out.get("quantity") is None:
        out["quantity"] = 1
    return out


def _id(value: Any) -> Any:
    """Segment ids may be numbers; the catalogue's are strings."""
    return str(value) if type(value) is int else value
