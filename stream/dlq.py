"""Records that cannot land, as DLQ records: the reason, where they came from, the raw value.

Shaped like the collector's rejections (collector/records.py: `reason`, `raw` = the value as
it came, as JSON when it is JSON, key = the original key) so that one consumer reads both;
`stage` tells them apart. A value that is not JSON goes in `raw_text` (or `raw_base64` when
not UTF-8). The source topic, partition and offset make a re-sent record recognisable: the
DLQ is at least once (a crash before the next publish sends it again).
"""

from __future__ import annotations

import base64

import orjson

from stream.partition_writer import Rejected


def dlq_value(topic: str, partition: int, rejected: Rejected) -> bytes:
    body: dict[str, object] = {
        "stage": "lander",
        "reason": str(rejected.reason),
        "error": rejected.detail,
        "topic": topic,
        "partition": partition,
        "offset": rejected.offset,
    }
    raw = rejected.value
    if raw is None:
        body["raw"] = None
        return orjson.dumps(body)
    try:
        body["raw"] = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            body["raw_text"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            body["raw_base64"] = base64.b64encode(raw).decode("ascii")
    return orjson.dumps(body)
