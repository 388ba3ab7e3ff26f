"""A business day in its time zone: the UTC instants it spans and the hour folders that hold it.

Events land under ``dt=YYYY-MM-DD/hr=HH`` by the UTC date and hour of ``event_time``, so a day
in Asia/Shanghai (UTC+8) spans two UTC dates: 2026-11-11 is [2026-11-10T16:00Z, 2026-11-11T16:00Z),
the folders dt=2026-11-10/hr=16..23 and dt=2026-11-11/hr=00..15. Days are computed with
zoneinfo, so a day with a daylight-saving change has 23 or 25 hours, and a zone with a
half-hour offset (Asia/Kolkata) reads the two partial hours at its edges.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from schemas import layout

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class BusinessDay:
    date: dt.date
    tz: str

    @property
    def start(self) -> dt.datetime:
        """The first instant of the day (aware, UTC)."""
        return _midnight(self.date, self.tz)

    @property
    def end(self) -> dt.datetime:
        """The first instant after the day (aware, UTC)."""
        return _midnight(self.date + dt.timedelta(days=1), self.tz)

    def hours(self, margin: int = 0) -> list[dt.datetime]:
        """The UTC hours (aware) whose folders hold the day, and `margin` more each side."""
        first = self.start.replace(minute=0, second=0, microsecond=0) - margin * HOUR
        stop = self.end + margin * HOUR  # exclusive: an hour starting at `stop` is not needed
        hours, hour = [], first
        while hour < stop:
            hours.append(hour)
            hour += HOUR
        return hours


def hour_folder(root: str, hour: dt.datetime) -> str:
    """``<root>/dt=YYYY-MM-DD/hr=HH`` of a UTC hour (an aware datetime)."""
    return layout.hour_folder(root, layout.Bucket.of(hour))


def utc_date_hours(date: dt.date) -> list[dt.datetime]:
    """The 24 UTC hours of a UTC date (the folders of dt=<date>)."""
    start = dt.datetime.combine(date, dt.time(0), UTC)
    return [start + i * HOUR for i in range(24)]


def _midnight(date: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(0), ZoneInfo(tz)).astimezone(UTC)
