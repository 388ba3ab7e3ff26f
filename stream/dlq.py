"""Records that cannot land, as DLQ letters: the letter of both stages (schemas/dlq.py), its
``source`` the record's topic, partition and offset, its key the original key.

The source makes a re-sent record recognisable: the DLQ is at least once (a crash before the
next publish sends it again).
"""

from __future__ import annotations

import orjson

from schemas.dlq import Rejection, Stage, letter
from stream.partition_writer import Rejected


def dlq_value(topic: str, partition: int, rejected: Rejected) -> bytes:
    return letter(
        Stage.LANDER,
        Rejection(rejected.reason, rejected.detail),
        rejected.value,
        app_id=_app_id(rejected.value),
        source={"topic": topic, "partition": partition, "offset": rejected.offset},
    )


def _app_id(value: bytes | None) -> str | None:
    """The app the collector wrote in the record, when the value says it."""
    try:
        event = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return None
    app_id = event.get("app_id") if type(event) is dict else None
    return app_id if type(app_id) is str else None
