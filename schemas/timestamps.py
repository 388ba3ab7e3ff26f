"""Event times: an RFC 3339 string with an offset, or epoch milliseconds.

The schema (common/v1.json#/$defs/time) is checked by jsonschema-rs's own `date-time` format
plus a year pattern; `is_rfc3339` accepts exactly the same strings (tests compare the two on
edge cases and on random mutations), so every time the validator lets through can be read by
`parse_time` — the collector (clock-skew correction) and the lander rely on that.
"""

import re
from datetime import UTC, datetime, timedelta

# The epoch-ms range the schema allows: 2000-01-01 to 2100-01-01.
# An integer below it is almost always epoch *seconds* sent by mistake.
EPOCH_MS_MIN = 946_684_800_000
EPOCH_MS_MAX = 4_102_444_800_000

# RFC 3339 section 5.6 (date-time, offset mandatory), "T"/"Z" in either case, years 1900-2999
# as the schema's pattern says. fromisoformat then checks the calendar (no February 30).
_RFC3339 = re.compile(
    r"(?P<date>(?:19|2\d)\d\d-\d\d-\d\d)[Tt](?P<hm>[01]\d|2[0-3]):(?P<min>[0-5]\d):(?P<sec>[0-5]\d|60)"
    r"(?P<frac>\.\d+)?(?P<off>[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def is_rfc3339(value: str) -> bool:
    """True for an RFC 3339 date-time with an offset, in years 1900 to 2999."""
    return _parse_rfc3339(value) is not None


def is_epoch_ms(value: object) -> bool:
    # bool is an int subclass; True is not a time.
    return type(value) is int and EPOCH_MS_MIN <= value <= EPOCH_MS_MAX


def parse_time(value: str | int) -> datetime:
    """An aware UTC datetime from a time the schema accepts; ValueError otherwise."""
    if isinstance(value, str):
        parsed = _parse_rfc3339(value)
        if parsed is None:
            raise ValueError(f"not an RFC 3339 time: {value[:64]!r}")
        return parsed
    if is_epoch_ms(value):
        # timedelta keeps the milliseconds exact, a float timestamp would not.
        return _EPOCH + timedelta(milliseconds=value)
    raise ValueError(f"not a time (RFC 3339 string or epoch ms): {value!r:.64}")


def to_epoch_ms(value: str | int) -> int:
    """Epoch milliseconds of a time the schema accepts (sub-millisecond digits are dropped)."""
    return (parse_time(value) - _EPOCH) // timedelta(milliseconds=1)


def _parse_rfc3339(value: str) -> datetime | None:
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    leap = match["sec"] == "60"
    frac = (match["frac"] or "")[:7]  # datetime keeps microseconds
    off = "+00:00" if match["off"] in "Zz" else match["off"]
    sec = "59" if leap else match["sec"]
    text = f"{match['date']}T{match['hm']}:{match['min']}:{sec}{frac}{off}"
    try:
        parsed = datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None
    if leap:
        # A leap second exists only at 23:59:60 UTC; it is read as the next second.
        if (parsed.hour, parsed.minute) != (23, 59):
            return None
        parsed += _SECOND
    return parsed
