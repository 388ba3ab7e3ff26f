"""Segment's HTTP Tracking API read as the catalogue: the names the collector maps by default.

Front-end teams keep the SDK they ship (Segment's analytics.js and analytics-node, RudderStack's
SDK) and point it at the collector's ``/segment/v1``. The translation itself is the
collector's (collector/segment.py); what it maps by default is a contract, stated here once:
the collector's settings take these defaults (per write key, collector/settings.py) and
schemas/README.md documents them (schemas/docs.py).
"""

# track event name -> catalogue type (Segment's e-commerce v2 spec, and the shop backend's
# payment event, whose name Segment's spec does not fix).
TRACK_EVENTS: dict[str, str] = {
    "Product Viewed": "product_view",
    "Products Searched": "search",
    "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart",
    "Checkout Started": "begin_checkout",
    "Order Completed": "order_placed",
    "Order Refunded": "refund",
    "Payment Succeeded": "payment_succeeded",
}

# context.library.name as the SDKs send it -> context.platform.
LIBRARY_PLATFORMS: dict[str, str] = {
    "analytics.js": "web",  # analytics-next too
    "RudderLabs JavaScript SDK": "web",
    "@segment/analytics-node": "server",
    "analytics-node": "server",
    "analytics-ios": "ios",
    "analytics-swift": "ios",
    "analytics-android": "android",
    "analytics-kotlin": "android",
}

# RudderStack's JS SDK's referrer of a page opened directly: no referrer (null).
NO_REFERRER = "$direct"

# Segment's spec: amounts sent without a currency are in US dollars.
DEFAULT_CURRENCY = "USD"

# The first of these properties that is present is the catalogue's `amount`, by type.
AMOUNT_SOURCES: dict[str, tuple[str, ...]] = {
    "begin_checkout": ("value", "revenue", "total"),
    "order_placed": ("total", "revenue", "value"),
    "payment_succeeded": ("total", "revenue", "value", "amount"),
    "refund": ("total", "revenue", "value", "amount"),
}

# Calls answered 200 and counted, never stored: metric label -> (the call, why).
DROPPED: dict[str, tuple[str, str]] = {
    "alias": ("`alias`", "the reports have no use for a merge of two user ids"),
    "group": ("`group`", "the reports have no accounts"),
    "identify_anonymous": ("`identify` without `userId`", "it links nothing"),
    "track_unmapped": ("`track` of another name", "no catalogue type to map it to"),
}

DOC = """\
## Segment's Tracking API

SDKs that speak Segment's HTTP Tracking API send to the collector unchanged: Segment's
analytics.js (`@segment/analytics-next`) and `@segment/analytics-node`, RudderStack's
`@rudderstack/analytics-js` and `@rudderstack/rudder-sdk-node`. Point Segment's API host at
the collector's `/segment/v1`, RudderStack's data plane URL at its `/segment` (they add
`/v1/...`).

- Endpoints, all `POST /segment/v1/...`: `batch` and `b` (`{{"batch": [...], "sentAt"?,
  "writeKey"?}}`); one call each on `t`/`track`, `p`/`page`, `s`/`screen`, `i`/`identify`,
  `g`/`group`, `a`/`alias`; `m` (analytics.js's own telemetry) is answered 200 and discarded.
  `POST /segment/beacon/v1/batch?writeKey=` is a batch too: RudderStack's beacon transport.
- Write key: `Authorization: Basic base64(writeKey + ":")`, `writeKey` in the body, or
  `?writeKey=` in the URL. Bodies are JSON whatever their `Content-Type`, gzipped or not
  (`Content-Encoding: gzip`, rudder-sdk-node's default); at most 32 KB per call (413
  otherwise) and 500 KB per request. Preflights allow the SDKs' own headers, RudderStack's
  `AnonymousId`, `SentAt` and `Rsa-*` (sent on its resends) among them.
- A bad call is rejected alone: the answer is 200 and it goes to the DLQ, as on `/v1`.
  Shedding is answered `429` with an integer `Retry-After` (Segment's SDKs wait that long
  and resend the same `messageId`s), not `503`.

Every call's fields:

| Segment | event |
|---|---|
| `messageId` | `event_id` (the collector fills in a UUID when absent) |
| `anonymousId` | `device_id`; without one, `"user:" + userId` (a server-side call) |
| `userId` | `user_id` (an empty one, RudderStack's before `identify`, is none) |
| `timestamp` (RudderStack: `originalTimestamp`) | `ts` |
| `sentAt` (of the call, else of the batch) | `sent_at`: the same clock-skew correction |
| `context.page.url`, `.referrer`, `.title` | `page.url`, `.referrer` (`$direct`: null), `.title` |
| `context.campaign.source`, `.medium`, `.name` | `context.campaign.source`, `.medium`, `.name` |
| `context.locale` | `context.locale` |
| `context.app.version` | `context.app_version` |
| `context.library.name` | `context.platform`: {platforms}; a write key may fix it |
| `context.sessionId` (RudderStack) | `session_id` |

Calls:

| Segment call | event |
|---|---|
| `page`, `screen` | `page_view`: {page_call} |
| `track` named as below | that type |
| `identify` with a `userId` | `identify` (traits are not kept) |
{dropped}

Track names, by default (each write key may map its own, `segment.track_events` in the
collector's settings):

| track `event` | type | properties |
|---|---|---|
{tracks}

Properties follow Segment's e-commerce v2 spec: `sku` (else `product_id`), `category`,
`price`, `quantity` (1 when absent) of a product; its `products` are the `items`, each the
same way; `amount` is the first present of {amounts}; `currency` is {currency} when absent
(a write key may set another); `order_id`; `method` (else `payment_method`). Numeric ids are
made strings. Other properties are kept (they land in `extra`).
"""

_TRACK_PROPERTIES = {
    "product_view": "`sku`, `category`, `price`",
    "search": "`query`",
    "add_to_cart": "`sku`, `category`, `price`, `quantity`",
    "remove_from_cart": "`sku`, `category`, `price`, `quantity`",
    "begin_checkout": "`amount`, `currency`, `items` from `products`",
    "order_placed": "`order_id`, `items` from `products`, `amount`, `currency`",
    "payment_succeeded": "`order_id`, `amount`, `currency`, `method`",
    "refund": "`order_id`, `amount`, `currency`",
}


_METRIC = "surge_collector_segment_dropped_total"


def doc() -> str:
    """The README's section on the Segment API, from the defaults above."""
    tracks = "\n".join(
        f"| `{name}` | `{kind}` | {_TRACK_PROPERTIES[kind]} |"
        for name, kind in TRACK_EVENTS.items()
    )
    dropped = "\n".join(
        f'| {call} | dropped, counted by `{_METRIC}{{call="{label}"}}`: {why} |'
        for label, (call, why) in DROPPED.items()
    )
    platforms = ", ".join(f"`{name}` is `{p}`" for name, p in LIBRARY_PLATFORMS.items())
    amounts = "; ".join(
        f"{kind}: " + ", ".join(f"`{s}`" for s in sources)
        for kind, sources in AMOUNT_SOURCES.items()
    )
    return DOC.format(
        tracks=tracks,
        dropped=dropped,
        platforms=platforms,
        amounts=amounts,
        currency=f"`{DEFAULT_CURRENCY}`",
        page_call="a page's `properties.url`, `.referrer`, `.title` fill what `context.page` "
        "lacks; the call's `name` is the title when there is none",
    )
