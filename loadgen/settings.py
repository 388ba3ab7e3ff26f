"""The load generator's configuration, in one place: typed, with documented defaults.

Every field can be set from the environment (``SURGE_LOADGEN_EVENTS_PER_REQUEST=10``; nested
with ``__``: ``SURGE_LOADGEN_PROFILE__EVENTS_PER_S=5000``), by ``python -m loadgen``'s options,
or in code: ``LoadConfig(url=..., profile=Constant(events_per_s=5000, duration_s=10))``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from loadgen.profiles import Constant, Profile


class JourneyMix(BaseModel):
    """What shoppers do during a visit: each share is a probability at its step of the funnel."""

    products: int = Field(300, ge=1, description="How many SKUs the shop sells.")
    app_share: float = Field(0.45, ge=0, le=1, description="Visits from an app (else the web).")
    campaign_share: float = Field(0.35, ge=0, le=1, description="Visits that came from a campaign.")
    logged_in_share: float = Field(0.5, ge=0, le=1, description="Visits with a known user.")
    max_browse_pages: int = Field(3, ge=0, description="Page views after landing: 0 to this.")
    search_share: float = Field(0.3, ge=0, le=1, description="Visits that search.")
    max_product_views: int = Field(5, ge=1, description="Products viewed: 1 to this.")
    add_to_cart_share: float = Field(0.35, ge=0, le=1, description="Viewed products carted.")
    remove_from_cart_share: float = Field(
        0.2, ge=0, le=1, description="Carts of 2+ lines that lose one."
    )
    checkout_share: float = Field(0.7, ge=0, le=1, description="Non-empty carts checked out.")
    order_share: float = Field(0.85, ge=0, le=1, description="Checkouts that place an order.")
    payment_share: float = Field(0.92, ge=0, le=1, description="Orders that are paid.")
    refund_share: float = Field(0.03, ge=0, le=1, description="Paid orders refunded.")
    epoch_ms_share: float = Field(
        0.3, ge=0, le=1, description="Events whose ts is epoch ms (else RFC 3339)."
    )
    late_share: float = Field(
        0.01, ge=0, le=1, description="Events sent late from an app's offline queue (1-90 min)."
    )
    unknown_field_share: float = Field(
        0.05, ge=0, le=1, description="Events with a field the catalogue does not know."
    )


class LoadConfig(BaseSettings):
    """One run of the load generator."""

    model_config = SettingsConfigDict(env_prefix="SURGE_LOADGEN_", env_nested_delimiter="__")

    url: str = Field("http://127.0.0.1:8080", description="The collector's base URL.")
    path: str = Field("/v1/batch", description="Where batches are POSTed.")
    write_key: str | None = Field("dev", description="The write key; None sends none.")
    write_key_in_body: bool = Field(
        False, description="Send the key in the body (sendBeacon) instead of X-Write-Key."
    )
    profile: Profile = Field(default_factory=Constant, description="The offered load over time.")
    events_per_request: int = Field(20, ge=1, le=1000, description="Events per batch.")
    journeys: JourneyMix = Field(default_factory=JourneyMix)
    seed: int = Field(11, description="The same seed sends the same sale.")
    invalid_event_share: float = Field(
        0.01, ge=0, le=1, description="Events invalid on purpose (rejected by index, to the DLQ)."
    )
    malformed_request_share: float = Field(
        0.0, ge=0, le=1, description="Requests whose body is refused whole (400)."
    )
    distinct_requests: int = Field(
        5000,
        ge=1,
        description="Bodies rendered before the run. A longer run sends them again with every "
        "id renumbered (event, device, session, user and order ids), so ids stay unique.",
    )
    max_connections: int = Field(
        1024, ge=1, description="Open connections at most; one request at a time on each."
    )
    max_attempts: int = Field(
        5, ge=1, description="Sends of one batch at most (1: never retry), as SDKs retry."
    )
    retry_backoff_s: float = Field(
        0.5, gt=0, description="First wait before a retry without Retry-After; doubles each time."
    )
    request_timeout_s: float = Field(10.0, gt=0, description="An answer later than this is lost.")
    drain_s: float = Field(
        30.0,
        ge=0,
        description="After the last scheduled send, how long to wait for answers and retries.",
    )
    progress: bool = Field(True, description="A line on stderr every second.")
