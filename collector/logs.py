"""Structured logs: one JSON object per line on stderr.

Values travel JSON-encoded, so nothing a client sends (a path, a key, a header) can forge a
line. There is no log line per request: requests are counted in /metrics.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_MAX_VALUE = 512


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage()[:_MAX_VALUE],
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                line[key] = (
                    value if isinstance(value, int | float | bool) else str(value)[:_MAX_VALUE]
                )
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # librdkafka logs every failed reconnect while Kafka is down; the sink logs each change
    # of Kafka's availability once instead.
    if level != "DEBUG":
        logging.getLogger("librdkafka").setLevel(logging.CRITICAL)
