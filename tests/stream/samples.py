"""Enriched events, and records as the collector puts them on Kafka, for tests and benchmarks.

Built from the examples in the schema catalogue (one per event type, in turn), with a unique
`event_id` and an `event_time` spread over `hours` UTC hours so that files land in several
dt=/hr= folders.
"""

from __future__ import annotations

import copy
import functools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas import catalogue
from schemas.record import split_extra

BASE_TIME = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, Double-11 eve


@functools.cache
def _examples() -> tuple[dict[str, Any], ...]:
    found = []
    for event_type, version in sorted(catalogue.event_types().items()):
        schema = catalogue.load(catalogue.event_path(event_type, version))
        found.append(schema["examples"][0])
    return tuple(found)


def event(i: int, hours: int = 3, base: datetime = BASE_TIME) -> dict[str, Any]:
    """The i-th sample event: its event_time is base + (i spread over `hours`)."""
    examples = _examples()
    e = copy.deepcopy(examples[i % len(examples)])
    when = base + timedelta(minutes=(i * 7) % (hours * 60), milliseconds=i % 1000)
    e["event_id"] = str(uuid.uuid4())
    e["device_id"] = f"d_{i % 10007:05d}"  # the Kafka key: events spread over partitions
    e["event_time"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    e["received_at"] = (when + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    e.update(ip="203.0.113.0", user_agent="Mozilla/5.0", app_id="shop-cn", schema_version=1)
    return e


def event_bytes(i: int, hours: int = 3) -> tuple[str, bytes, bytes]:
    """(event_id, key, value) of the i-th sample event, ready to produce: the value in the
    record shape the collector writes (schemas.record.split_extra)."""
    e = event(i, hours)
    return e["event_id"], e["device_id"].encode(), orjson.dumps(split_extra(e))


def bucket_of(value: dict[str, Any]) -> tuple[str, str]:
    """The (dt, hr) folder an event must land in: UTC date and hour of its event_time."""
    when = datetime.fromisoformat(value["event_time"].replace("Z", "+00:00")).astimezone(UTC)
    return when.strftime("%Y-%m-%d"), when.strftime("%H")
