"""A flash sale as the SDKs report it: shoppers walking the funnel, as client events.

Each shopper (a device, half of them logged in) views the sale page, some products, and drops
out or goes on to the cart, checkout, order and payment, with the conversion of a busy sale.
Deterministic for a seed, so a run can be compared with the last.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

PRODUCTS = [  # (sku, category, price in CNY)
    ("SKU-LIP-001", "lipstick", 199.0),
    ("SKU-LIP-002", "lipstick", 259.0),
    ("SKU-SER-010", "serum", 599.0),
    ("SKU-SER-011", "serum", 899.0),
    ("SKU-CRM-020", "cream", 349.0),
    ("SKU-MSK-030", "mask", 129.0),
]
SOURCES = [("weibo", "social"), ("douyin", "video"), ("search", "cpc"), (None, None)]
# Chance of going on to the next step: cart, checkout, order, payment.
STEPS = (0.45, 0.7, 0.85, 0.92)


def shopper_events(rng: random.Random, shopper: int, start: datetime) -> list[dict[str, Any]]:
    """One shopper's visit, in order: a page view, product views, and maybe a purchase."""
    device = f"d_{shopper:07d}"
    source, medium = rng.choice(SOURCES)
    common: dict[str, Any] = {
        "device_id": device,
        "session_id": f"s_{shopper:07d}",
        "context": {"platform": rng.choice(["web", "ios", "android"]), "locale": "zh-CN"},
    }
    if rng.random() < 0.5:
        common["user_id"] = f"u_{shopper:07d}"
    if source:
        common["context"]["campaign"] = {"source": source, "medium": medium, "name": "double11"}
    now = start

    def event(event_type: str, **properties: Any) -> dict[str, Any]:
        nonlocal now
        now += timedelta(seconds=rng.uniform(1, 8))  # each step a few seconds after the last
        when = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = {"event_id": str(uuid.UUID(int=rng.getrandbits(128))), "type": event_type}
        body |= {"ts": when, **common, "properties": properties}
        return body

    events = [event("page_view")]
    events[0]["page"] = {"url": "https://shop.example.com/double11", "title": "Double 11"}
    viewed = rng.sample(PRODUCTS, k=rng.randint(1, 3))
    events += [event("product_view", sku=s, category=c, price=p) for s, c, p in viewed]
    sku, category, price = viewed[0]
    quantity = rng.randint(1, 3)
    order_id = f"SO-{shopper:07d}"
    amount = round(price * quantity, 2)
    funnel = [
        lambda: event("add_to_cart", sku=sku, category=category, price=price, quantity=quantity),
        lambda: event("begin_checkout", amount=amount, currency="CNY"),
        lambda: event(
            "order_placed",
            order_id=order_id,
            amount=amount,
            currency="CNY",
            items=[{"sku": sku, "category": category, "price": price, "quantity": quantity}],
        ),
        lambda: event(
            "payment_succeeded", order_id=order_id, amount=amount, currency="CNY", method="alipay"
        ),
    ]
    for chance, step in zip(STEPS, funnel, strict=True):
        if rng.random() >= chance:
            break
        events.append(step())
    return events


def flash_sale(shoppers: int, start: datetime | None = None, seed: int = 11) -> Iterator[dict]:
    """The events of ``shoppers`` visits starting within a minute of ``start``.

    The default start is 20 minutes ago: every visit is over by now, none lies in the future.
    """
    rng = random.Random(seed)
    start = start or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    for shopper in range(shoppers):
        yield from shopper_events(rng, shopper, start + timedelta(seconds=rng.uniform(0, 60)))
