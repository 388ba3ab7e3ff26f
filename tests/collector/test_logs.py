"""aiohttp's log of unparsable requests is throttled; other records pass as they are."""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from collector.logs import BadRequestThrottle


def _record(exc: BaseException | None) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc else None
    return logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s",
        ("127.0.0.1",),
        info,
    )


def test_bad_requests_pass_once_per_interval_without_traceback_and_count_the_rest():
    now = [100.0]
    throttle = BadRequestThrottle(interval_s=10, clock=lambda: now[0])
    first = _record(BadHttpMessage("bad Content-Length"))
    assert throttle.filter(first)
    assert first.exc_info is None and first.levelname == "WARNING" and first.left_out == 0
    assert "Error handling request from 127.0.0.1: BadHttpMessage" in first.getMessage()
    assert not any(throttle.filter(_record(LineTooLong("x", "8190"))) for _ in range(50))
    now[0] += 10
    later = _record(BadHttpMessage("again"))
    assert throttle.filter(later) and later.left_out == 50


def test_other_records_pass_untouched():
    throttle = BadRequestThrottle(interval_s=10, clock=lambda: 0.0)
    for exc in (None, RuntimeError("a bug"), RuntimeError("another")):
        record = _record(exc)
        assert throttle.filter(record)
        assert record.levelname == "ERROR" and (record.exc_info is None) == (exc is None)
