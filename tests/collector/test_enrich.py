"""Server fields: skew correction, clamping, ip, user agent, app, ids; the client's are replaced."""

from __future__ import annotations

import uuid

from collector.enrich import (
    RequestFacts,
    client_ip,
    enrich,
    event_time_ms,
    format_ms,
    truncate_ip,
    user_agent,
)
from schemas.timestamps import to_epoch_ms

RECEIVED = to_epoch_ms("2026-11-11T00:00:10.000+08:00")


def facts(**overrides) -> RequestFacts:
    values = {
        "app_id": "shop",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "sent_at": None,
        "max_future_ms": 5000,
    }
    return RequestFacts.at(RECEIVED, **(values | overrides))


def test_event_time_applies_the_clients_own_delay_to_the_server_clock():
    # The client clock is 1 hour behind; it sent 2 s after the event, by its own clock.
    ts = to_epoch_ms("2026-11-10T23:00:05.000+08:00")
    sent = to_epoch_ms("2026-11-10T23:00:07.000+08:00")
    assert event_time_ms(ts, sent, RECEIVED, 5000) == RECEIVED - 2000


def test_event_time_without_sent_at_is_ts():
    ts = RECEIVED - 60_000
    assert event_time_ms(ts, None, RECEIVED, 5000) == ts


def test_event_time_is_never_far_in_the_future_nor_before_1900():
    assert event_time_ms(RECEIVED + 3_600_000, None, RECEIVED, 5000) == RECEIVED + 5000
    # ts after sent_at (a client bug) would put the event in the future too.
    assert event_time_ms(RECEIVED + 10_000, RECEIVED, RECEIVED, 0) == RECEIVED
    floor = to_epoch_ms("1900-01-01T00:00:00Z")
    assert event_time_ms(floor, to_epoch_ms("2999-01-01T00:00:00Z"), RECEIVED, 0) == floor


def test_times_are_rfc3339_utc_with_milliseconds():
    assert format_ms(RECEIVED + 7) == "2026-11-10T16:00:10.007Z"
    assert format_ms(to_epoch_ms("1969-12-31T23:59:59.500Z")) == "1969-12-31T23:59:59.500Z"


def test_enrich_sets_server_fields_and_replaces_client_values():
    event = {
        "event_id": "0192f6a0-7c1e-7b3a-9f21-5d0c8e4a1b01",
        "type": "page_view",
        "ts": "2026-11-11T00:00:03.120+08:00",
        "device_id": "d_1",
        "write_key": "dev",
        "app_id": "someone-else",
        "received_at": "1999-01-01T00:00:00Z",
        "ip": "10.0.0.1",
    }
    out = enrich(event, facts(sent_at="2026-11-11T00:00:04.120+08:00"), 1)
    assert out == {
        "event_id": "0192f6a0-7c1e-7b3a-9f21-5d0c8e4a1b01",
        "type": "page_view",
        "ts": "2026-11-11T00:00:03.120+08:00",
        "device_id": "d_1",
        "app_id": "shop",
        "received_at": "2026-11-10T16:00:10.000Z",
        "event_time": "2026-11-10T16:00:09.000Z",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "schema_version": 1,
    }
    assert event["write_key"] == "dev"  # the raw event is left as it came


def test_an_events_own_sent_at_wins_over_the_batchs():
    event = {"type": "page_view", "ts": RECEIVED - 10_000, "sent_at": RECEIVED - 9_000}
    out = enrich(event, facts(sent_at=RECEIVED - 1_000_000), 1)
    assert out["event_time"] == format_ms(RECEIVED - 1000)


def test_enrich_fills_a_missing_or_null_event_id():
    for missing in ({}, {"event_id": None}):
        out = enrich({"type": "page_view", "ts": RECEIVED, **missing}, facts(), 1)
        assert uuid.UUID(out["event_id"]).version == 4


def test_client_ip_trusts_forwarded_for_only_behind_configured_proxies():
    assert client_ip("10.0.0.2", "6.6.6.6", 0) == "10.0.0.2"
    assert client_ip("10.0.0.2", "6.6.6.6, 198.51.100.4", 1) == "198.51.100.4"
    assert client_ip("10.0.0.2", "6.6.6.6, 198.51.100.4", 2) == "6.6.6.6"
    assert client_ip("10.0.0.2", "evil\r\nX-Injected: 1", 1) is None  # not an address
    assert client_ip("10.0.0.2", None, 1) == "10.0.0.2"


def test_truncate_ip():
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("2001:db8:abcd:12:1:2:3:4") == "2001:db8:abcd::"
    assert truncate_ip("not an ip") is None
    assert truncate_ip(None) is None


def test_user_agent_is_capped():
    assert user_agent("x" * 2000) == "x" * 512
    assert user_agent(None) is None
