"""Kafka records of the collector: what goes in them is decided here, not in the sink.

- a valid event: key ``device_id`` (one device's events stay in order on one partition),
  value the enriched event as JSON, in the landed table's shape: the fields that have a column
  where they are, everything else in ``extra`` (``schemas.record.split_extra``), so that the
  lander can read a whole poll natively;
- a rejected event, for the DLQ: value the DLQ letter of both stages (schemas/dlq.py), its
  ``source`` the event's place in the request and the client's address; never the write key.
  Key the event's ``device_id`` when it has a usable one, else none.

Client values only ever travel inside the JSON value (and the key): never in a topic name or a
header, so no field can steer a record elsewhere.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from collector.enrich import RequestFacts
from schemas.dlq import Rejection, Stage, letter
from schemas.record import split_extra

_MAX_KEY = 256


class Record(NamedTuple):
    # A tuple, not a dataclass: one is built per event on the hot path.
    key: bytes | None
    value: bytes


def event_record(enriched: dict[str, Any]) -> Record:
    return Record(enriched["device_id"].encode(), orjson.dumps(split_extra(enriched)))


def dead_record(raw: Any, rejection: Rejection, index: int, facts: RequestFacts) -> Record:
    source = {"index": index, "ip": facts.ip, "user_agent": facts.user_agent}
    value = letter(
        Stage.COLLECTOR,
        rejection,
        raw,
        app_id=facts.app_id,
        source=source,
        received_at=facts.received_at,
    )
    return Record(_dead_key(raw), value)


def _dead_key(raw: Any) -> bytes | None:
    device = raw.get("device_id") if type(raw) is dict else None
    if type(device) is str and 0 < len(device) <= _MAX_KEY:
        return device.encode()
    return None
