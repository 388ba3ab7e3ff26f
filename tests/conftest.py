"""Shared fixtures: one real stack for the whole test session; the catalogue's own examples,
and enriched events.

Helpers are fixtures (not an imported module) so that they work under any pytest import mode.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.endpoints import Endpoints
from infra.provider import provide_stack
from infra.stack import LocalStack
from schemas import catalogue


@pytest.fixture(scope="session")
def stack() -> Iterator[Endpoints]:
    """A running Kafka + HDFS (see infra/provider.py for where it comes from)."""
    with provide_stack() as endpoints:
        yield endpoints


@pytest.fixture(scope="session")
def local_stack(stack: Endpoints) -> LocalStack:
    """The local stack behind ``stack``, for tests that stop and start its services."""
    local = LocalStack()
    if local.endpoints != stack or not all(status.pid for status in local.status()):
        pytest.skip("stops and starts services: needs the local stack of this checkout")
    return local


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
