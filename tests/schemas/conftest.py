"""Fixtures for the schema tests: the catalogue's own examples, and enriched events.

Helpers are fixtures (not an imported module) so that they work under any pytest import mode.
"""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from schemas import catalogue

Event = dict[str, Any]


def _example(event_type: str) -> Event:
    version = catalogue.event_types()[event_type]
    return copy.deepcopy(catalogue.load(catalogue.event_path(event_type, version))["examples"][0])


def _enrich(event: Event) -> Event:
    return {
        **event,
        "received_at": "2026-11-10T16:00:16.000Z",
        "event_time": 1794326415275,
        "ip": "203.0.113.0",
        "user_agent": "Mozilla/5.0",
        "app_id": "shop-cn",
        "schema_version": 1,
    }


@pytest.fixture
def example() -> Callable[[str], Event]:
    """example("order_placed"): a fresh copy of the example in that type's latest schema."""
    return _example


@pytest.fixture
def enrich() -> Callable[[Event], Event]:
    """enrich(event): the event with the server fields the collector adds (its Kafka record
    is schemas.record.split_extra of that)."""
    return _enrich


@pytest.fixture(params=sorted(catalogue.event_types()))
def event_type(request: pytest.FixtureRequest) -> str:
    return request.param
