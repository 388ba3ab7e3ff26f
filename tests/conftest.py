"""Shared fixtures: one real stack for the whole test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.endpoints import Endpoints
from infra.provider import provide_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Endpoints]:
    """A running Kafka + HDFS (see infra/provider.py for where it comes from)."""
    with provide_stack() as endpoints:
        yield endpoints
