"""Shoppers' visits as the SDKs report them: user journeys, not random events.

A visit is one device landing on the shop (from a campaign or not), browsing, maybe searching,
viewing products, filling and trimming a cart, and with the conversion of a busy sale going
on to checkout, order, payment and now and then a refund. Each event is valid by `schemas/`;
`spoil()` makes one invalid on purpose (for the DLQ).

    for event in events(1000, seed=7):  # 1000 events of whole visits, deterministic for a seed
        ...

Ids carry an 8-character ``token`` (hex) in a fixed place: `loadgen.batches` renders bodies
once and renumbers their ids by rewriting the token, which costs no JSON work.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from loadgen import shop
from loadgen.settings import JourneyMix

ZERO_TOKEN = "00000000"
_SHANGHAI_MS = 8 * 3_600_000


@dataclass(slots=True)
class Visit:
    """One device's visit: its platform (for the User-Agent header) and its events, in order."""

    platform: shop.Platform
    events: list[dict[str, Any]] = field(default_factory=list)
    times_ms: list[int] = field(default_factory=list)  # when each event happened, as epoch ms


class Journeys:
    """Visits one after the other on a clock starting at ``start_ms`` (epoch ms)."""

    def __init__(
        self,
        mix: JourneyMix | None = None,
        seed: int = 11,
        start_ms: int | None = None,
        token: str = ZERO_TOKEN,
    ) -> None:
        self.mix = mix or JourneyMix()
        self.rng = random.Random(seed)
        self.products = shop.products(self.mix.products, seed)
        self.token = token
        self.clock_ms = time.time_ns() // 1_000_000 if start_ms is None else start_ms
        self.visits = 0

    def __iter__(self) -> Iterator[Visit]:
        while True:
            yield self.visit()

    def visit(self) -> Visit:
        rng, mix, token = self.rng, self.mix, self.token
        number = self.visits
        self.visits += 1
        self.clock_ms += rng.randrange(20, 200)  # visits start a little after one another
        platform = _pick_platform(rng, mix.app_share)
        context: dict[str, Any] = {
            "platform": platform.name,
            "app_version": platform.app_version,
            "locale": "zh-CN" if rng.random() < 0.9 else "en-US",
        }
        campaign = rng.choice(shop.CAMPAIGNS) if rng.random() < mix.campaign_share else None
        if campaign:
            context["campaign"] = dict(zip(("source", "medium", "name"), campaign, strict=True))
        common: dict[str, Any] = {
            "device_id": f"d_{token}{number:07x}",
            "session_id": f"s_{token}{number:07x}",
        }
        if rng.random() < mix.logged_in_share:
            common["user_id"] = f"u_{token}{rng.randrange(16**6):06x}"
        visit = Visit(platform)
        now = self.clock_ms
        referrer = rng.choice(shop.REFERRERS)

        def add(event_type: str, path: str | None, properties: dict[str, Any] | None) -> None:
            nonlocal now
            now += rng.randrange(400, 8000)  # a shopper's think time between two steps
            event: dict[str, Any] = {
                "event_id": self._event_id(),
                "type": event_type,
                "ts": self._ts(now),
                **common,
                "context": context,
            }
            if path is not None and not platform.is_app:
                title = event_type.replace("_", " ").title()
                event["page"] = {"url": shop.SHOP_URL + path, "referrer": referrer, "title": title}
            if properties is not None:
                event["properties"] = properties
            if rng.random() < mix.unknown_field_share:  # kept by the collector in `extra`
                event["$lib"] = {"name": "surge-web", "version": "1.4.2"}
            visit.events.append(event)
            visit.times_ms.append(now)

        landing = f"/campaign/{campaign[2]}" if campaign else "/"
        add("page_view", landing, None)
        for _ in range(rng.randrange(mix.max_browse_pages + 1)):
            add("page_view", f"/c/{rng.choice(shop.CATEGORIES)}?page={rng.randrange(1, 9)}", None)
        if rng.random() < mix.search_share:
            query = f"{rng.choice(shop.CATEGORIES)} {rng.choice(shop.SEARCH_WORDS)}"
            add("search", f"/search?q={query.replace(' ', '+')}", {"query": query})
        viewed = rng.sample(self.products, rng.randint(1, mix.max_product_views))
        for product in viewed:
            add("product_view", f"/p/{product.sku}", _product(product))
        cart: list[dict[str, Any]] = []
        for product in viewed:
            if rng.random() < mix.add_to_cart_share:
                line = _product(product) | {"quantity": rng.randint(1, 3)}
                cart.append(line)
                add("add_to_cart", f"/p/{product.sku}", line)
        if len(cart) > 1 and rng.random() < mix.remove_from_cart_share:
            line = cart.pop(rng.randrange(len(cart)))
            add("remove_from_cart", "/cart", line)
        if not cart or rng.random() >= mix.checkout_share:
            return visit
        # The sale's discount on the cart's total, as the order says what the customer pays.
        amount = round(sum(line["price"] * line["quantity"] for line in cart) * 0.85, 2)
        money = {"amount": amount, "currency": shop.CURRENCY}
        add("begin_checkout", "/checkout?step=1", money | {"items": cart})
        if rng.random() >= mix.order_share:
            return visit
        order_id = f"SO-{token}{number:07x}"
        add("order_placed", "/checkout?step=2", {"order_id": order_id, **money, "items": cart})
        if rng.random() >= mix.payment_share:
            return visit
        method = rng.choice(shop.PAYMENT_METHODS)
        add(
            "payment_succeeded",
            "/checkout?step=3",
            {"order_id": order_id, **money} | {"method": method},
        )
        if rng.random() < mix.refund_share:
            refunded = round(amount * rng.choice((1.0, 0.5)), 2)
            add("refund", "/orders", {"order_id": order_id, "amount": refunded})
        return visit

    def _event_id(self) -> str:
        """A UUID (version 4 shape) whose first 8 hex digits are the token."""
        h = f"{self.rng.getrandbits(96):024x}"
        return f"{self.token}-{h[:4]}-4{h[4:7]}-a{h[7:10]}-{h[10:22]}"

    def _ts(self, ms: int) -> str | int:
        """The client's time: epoch ms or RFC 3339 in the shopper's offset, as SDKs differ."""
        rng = self.rng
        if rng.random() < self.mix.late_share:  # held back in an app's offline queue
            ms -= rng.randrange(60_000, 5_400_000)
        if rng.random() < self.mix.epoch_ms_share:
            return ms
        seconds, millis = divmod(ms + _SHANGHAI_MS, 1000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}+08:00"


def events(
    count: int | None = None,
    *,
    seed: int = 11,
    mix: JourneyMix | None = None,
    start_ms: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The events of consecutive visits, in order (all of them when ``count`` is None)."""
    sent = 0
    for visit in Journeys(mix, seed, start_ms):
        for event in visit.events:
            if count is not None and sent >= count:
                return
            sent += 1
            yield event


def spoil(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of ``event`` made invalid in one of the ways clients get it wrong."""
    spoiled = {**event}
    properties = dict(event.get("properties") or {})
    ways = ["no_device", "unknown_type", "bad_time"]
    ways += [
        w
        for w, key in (("negative_amount", "amount"), ("price_text", "price"))
        if key in properties
    ]
    way = rng.choice(ways)
    if way == "no_device":
        del spoiled["device_id"]
    elif way == "unknown_type":
        spoiled["type"] = "teleport"
    elif way == "bad_time":
        spoiled["ts"] = "yesterday"
    elif way == "negative_amount":
        spoiled["properties"] = properties | {"amount": -1}
    else:
        spoiled["properties"] = properties | {"price": str(properties["price"])}
    return spoiled


def _pick_platform(rng: random.Random, app_share: float) -> shop.Platform:
    if rng.random() >= app_share:
        return shop.PLATFORMS[0]
    return rng.choice(shop.PLATFORMS[1:])


def _product(product: shop.Product) -> dict[str, Any]:
    return {"sku": product.sku, "category": product.category, "price": product.price}
