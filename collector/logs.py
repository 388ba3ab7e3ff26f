"""Structured logs: one JSON object per line on stderr.

Values travel JSON-encoded, so nothing a client sends (a path, a key, a header) can forge a
line. There is no log line per request: requests are counted in /metrics.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson
from aiohttp.http_exceptions import HttpProcessingError

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_MAX_VALUE = 512
BAD_REQUEST_LOG_INTERVAL_S = 10.0


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


class BadRequestThrottle(logging.Filter):
    """aiohttp logs every request it cannot parse (a bad Content-Length, a header too long) as
    an ERROR with a traceback, after answering it 400: anyone could fill the log. Such a record
    passes at most once per ``interval_s``, without the traceback, as a WARNING that says how
    many were left out since the last one. Other records of aiohttp pass untouched."""

    def __init__(self, interval_s: float = BAD_REQUEST_LOG_INTERVAL_S, clock=time.monotonic):
        super().__init__()
        self._interval, self._clock = interval_s, clock
        self._next = 0.0
        self._left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        now = self._clock()
        if now < self._next:
            self._left_out += 1
            return False
        record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
        record.args, record.exc_info, record.exc_text = None, None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.left_out = self._left_out
        self._next, self._left_out = now + self._interval, 0
        return True


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.server").addFilter(BadRequestThrottle())
    # librdkafka logs every failed reconnect while Kafka is down; the sink logs each change
    # of Kafka's availability once instead.
    if level != "DEBUG":
        logging.getLogger("librdkafka").setLevel(logging.CRITICAL)
