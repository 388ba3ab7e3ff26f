"""Journeys and batches: valid by the catalogue, shaped like shoppers, deterministic."""

from __future__ import annotations

import random
from collections import Counter

import orjson
import pytest

from loadgen import JourneyMix, LoadConfig, events, rendered, spoil
from loadgen.batches import for_lap, lap_id, sent_at_of, with_sent_at
from schemas.validator import EnvelopeValidator, EventValidator

START_MS = 1_794_326_400_000  # 2026-11-11T00:00:00+08:00


@pytest.fixture(scope="module")
def validator() -> EventValidator:
    return EventValidator.load()


def test_every_event_of_the_journeys_is_valid_by_the_catalogue(validator):
    sample = list(events(5000, seed=3, start_ms=START_MS))
    problems = [(e["type"], validator.validate(e)) for e in sample if validator.validate(e)]
    assert problems == []
    # Every type of the catalogue shows up: the journeys cover the whole funnel.
    assert {e["type"] for e in sample} == set(validator.event_types)


def test_journeys_walk_the_funnel_in_order_per_device():
    by_device: dict[str, list[str]] = {}
    for event in events(20_000, seed=5, start_ms=START_MS):
        by_device.setdefault(event["device_id"], []).append(event["type"])
    funnel = ["begin_checkout", "order_placed", "payment_succeeded", "refund"]
    for types in by_device.values():
        assert types[0] == "page_view"  # a visit starts by landing
        steps = [t for t in types if t in funnel]
        assert steps == funnel[: len(steps)]  # never pays before ordering...
    counts = Counter(t for types in by_device.values() for t in types)
    # A sale's conversion: many more views than orders, more orders than refunds.
    assert counts["product_view"] > counts["add_to_cart"] > counts["order_placed"]
    assert counts["order_placed"] >= counts["payment_succeeded"] > counts["refund"] > 0


def test_orders_add_up_and_payments_match_their_order():
    orders = {}
    for event in events(20_000, seed=5, start_ms=START_MS):
        p = event.get("properties") or {}
        if event["type"] == "order_placed":
            lines = sum(i["price"] * i["quantity"] for i in p["items"])
            assert p["amount"] == round(lines * 0.85, 2)
            orders[p["order_id"]] = p["amount"]
        elif event["type"] in ("payment_succeeded", "refund"):
            assert p["amount"] <= orders[p["order_id"]]


def test_the_same_seed_sends_the_same_sale_and_another_seed_another():
    first = list(events(500, seed=9, start_ms=START_MS))
    assert first == list(events(500, seed=9, start_ms=START_MS))
    assert first != list(events(500, seed=10, start_ms=START_MS))


def test_the_mix_is_configurable():
    mix = JourneyMix(app_share=0.0, search_share=0.0, add_to_cart_share=0.0, campaign_share=1.0)
    sample = list(events(2000, seed=1, mix=mix, start_ms=START_MS))
    assert {e["context"]["platform"] for e in sample} == {"web"}
    assert {e["type"] for e in sample} == {"page_view", "product_view"}
    assert all("campaign" in e["context"] for e in sample)


def test_spoiled_events_are_invalid(validator):
    rng = random.Random(1)
    for event in events(500, seed=2, start_ms=START_MS):
        assert validator.validate(spoil(event, rng)) is not None
        assert validator.validate(event) is None  # the original is left as it was


def test_batches_are_valid_envelopes_of_valid_events_with_sent_at_after_their_events(validator):
    config = LoadConfig(events_per_request=20, invalid_event_share=0.0)
    envelopes = EnvelopeValidator.load()
    for batch in rendered(config, 50, START_MS):
        body = orjson.loads(batch.body)
        assert envelopes.validate(body) is None
        assert [e["event_id"] for e in body["events"]] == list(batch.event_ids)
        assert len(body["events"]) == 20
        assert all(validator.validate(e) is None for e in body["events"])
        assert body["sent_at"] == sent_at_of(batch.body)
        on_time = [e["ts"] for e in body["events"] if isinstance(e["ts"], int)]
        assert all(ts < body["sent_at"] for ts in on_time)


def test_shares_of_invalid_events_and_malformed_requests(validator):
    config = LoadConfig(invalid_event_share=0.1, malformed_request_share=0.1)
    batches = rendered(config, 400, START_MS)
    malformed = [b for b in batches if b.malformed]
    assert 20 <= len(malformed) <= 60
    envelopes = EnvelopeValidator.load()
    for batch in malformed:
        try:
            body = orjson.loads(batch.body)
        except orjson.JSONDecodeError:
            continue  # truncated: not JSON at all
        assert envelopes.validate(body) is not None
    sent = [e for b in batches if not b.malformed for e in orjson.loads(b.body)["events"]]
    invalid = sum(validator.validate(e) is not None for e in sent)
    assert 0.07 * len(sent) <= invalid <= 0.13 * len(sent)


def test_a_lap_renumbers_every_id_and_keeps_the_events_valid(validator):
    (batch,) = rendered(LoadConfig(invalid_event_share=0.0), 1, START_MS)
    lap0 = orjson.loads(batch.body)["events"]
    lap7 = orjson.loads(for_lap(batch, 7))["events"]
    assert [e["event_id"] for e in lap7] == [lap_id(i, 7) for i in batch.event_ids]
    for before, after in zip(lap0, lap7, strict=True):
        assert validator.validate(after) is None
        for key in ("event_id", "device_id", "session_id"):
            assert before[key] != after[key]
        assert {**after, "event_id": 0, "device_id": 0, "session_id": 0, "user_id": 0} == {
            **before,
            "event_id": 0,
            "device_id": 0,
            "session_id": 0,
            "user_id": 0,
        } or before.get("properties", {}).get("order_id")


def test_sent_at_is_stamped_in_place():
    (batch,) = rendered(LoadConfig(), 1, START_MS)
    later = with_sent_at(batch.body, sent_at_of(batch.body) + 1500)
    assert orjson.loads(later)["sent_at"] == orjson.loads(batch.body)["sent_at"] + 1500
    assert orjson.loads(later)["events"] == orjson.loads(batch.body)["events"]
