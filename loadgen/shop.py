"""The simulated shop: products with prices and categories, campaigns, platforms.

Everything a journey picks from, built once per seed so that two runs with the same seed send
the same sale.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SHOP_URL = "https://shop.example.com"
CURRENCY = "CNY"
CATEGORIES = (
    *("lipstick", "serum", "foundation", "mascara", "cleanser", "toner", "sunscreen"),
    *("eyeshadow", "perfume", "mask", "moisturizer", "blush"),
)
PRICES = (39.0, 59.9, 79.0, 89.9, 99.0, 129.0, 159.0, 199.0, 239.0, 299.0, 459.5, 899.0)
VARIANTS = ("RED", "NUDE", "30ML", "50ML", "XL", "GIFT")
# (utm_source, utm_medium, utm_campaign)
CAMPAIGNS = (
    ("weibo", "social", "double11"),
    ("douyin", "video", "d11-live"),
    ("wechat", "social", "double11"),
    ("baidu", "cpc", "brand-search"),
    ("newsletter", "email", "d11-preheat"),
)
SEARCH_WORDS = ("red", "matte", "spf50", "gift set", "travel size", "sensitive skin")
PAYMENT_METHODS = ("alipay", "wechat_pay", "card")
REFERRERS = (f"{SHOP_URL}/", "https://www.baidu.com/", "https://m.weibo.cn/", None)


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    app_version: str
    user_agent: str  # sent as the request's User-Agent header, as the real client would
    is_app: bool  # apps report screens, not pages


PLATFORMS = (
    Platform(
        "web",
        "web-sdk 1.4.2",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.0.0 Safari/537.36",
        False,
    ),
    Platform("ios", "5.12.0", "SurgeShop/5.12.0 (iPhone15,2; iOS 17.1.1; Scale/3.00)", is_app=True),
    Platform("android", "5.11.3", "SurgeShop/5.11.3 (Android 13; SM-S9180)", is_app=True),
    Platform(
        "mini_program",
        "mp 2.3.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 MicroMessenger/8.0.43",
        is_app=True,
    ),
)


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    category: str
    price: float


def products(count: int, seed: int) -> tuple[Product, ...]:
    """``count`` products over every category, each with its own SKU and price."""
    rng = random.Random(seed)
    return tuple(
        Product(f"{category[:3].upper()}-{n:04d}-{rng.choice(VARIANTS)}", category, price)
        for n in range(count)
        for category, price in [(CATEGORIES[n % len(CATEGORIES)], rng.choice(PRICES))]
    )
