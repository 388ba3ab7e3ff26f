"""Shared fixtures: one real stack for the whole test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.endpoints import Endpoints
from infra.provider import provide_stack
from infra.stack import LocalStack


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
