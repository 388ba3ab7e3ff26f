"""Every knob of the batch jobs, typed and in one place, and the command line that sets them.

Precedence: command-line flag > environment variable ``SURGE_BATCH_`` + field name in upper case
(``events`` -> ``SURGE_BATCH_EVENTS``) > the default below. Tests build settings objects directly.

Paths without a scheme (the defaults) resolve against the Hadoop ``fs.defaultFS`` of the Spark
session (``HADOOP_CONF_DIR`` on a cluster, e.g. ``hdfs://namenode:8020``); pass full URLs such as
``hdfs://127.0.0.1:8020/surge/events`` when no Hadoop configuration is around.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
_HOUR = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2})")


class BatchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SURGE_BATCH_", frozen=True)

    # What to compute
    date: dt.date | None = Field(
        None, description="The business day (reports) or the UTC date of the hours (compaction)."
    )
    tz: str = Field("Asia/Shanghai", description="Business time zone of the reports' days.")

    # Where
    events: str = Field("/surge/events", description="Root of the landed dt=/hr= folders.")
    reports: str = Field("/surge/reports", description="Root of <report>/dt=YYYY-MM-DD/ outputs.")
    master: str | None = Field(
        None, description="Spark master; default: spark-submit's --master, else local[*]."
    )

    # Reading
    dedup_margin_hours: int = Field(
        1,
        ge=0,
        le=24,
        description=(
            "Hour folders read on each side of the day, so that a client retry whose copies "
            "straddle midnight is counted once, on the day of its first copy."
        ),
    )

    # Compaction
    hour: dt.datetime | None = Field(None, description="One UTC hour folder to compact.")
    target_file_mb: int = Field(128, ge=1, description="Size compacted files aim at.")
    closed_after_s: int = Field(
        900,
        ge=0,
        description=(
            "An hour folder is compacted only this long after the hour ended: more than the "
            "lander's rotate_age_s (45 s) plus its publish retries (backoff up to 30 s)."
        ),
    )

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Asia/Shanghai)") from exc
        return value

    @field_validator("hour", mode="before")
    @classmethod
    def _utc_hour(cls, value: object) -> object:
        if isinstance(value, str):
            match = _HOUR.fullmatch(value.strip())
            if match is None:
                raise ValueError(f"hour {value!r}: expected YYYY-MM-DDTHH (UTC)")
            return dt.datetime.fromisoformat(f"{match[1]}T{match[2]}:00:00+00:00")
        return value

    @property
    def target_file_bytes(self) -> int:
        return self.target_file_mb * MIB


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--events", help="landed events root (default /surge/events)")
    parser.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    return parser


def report_args(argv: list[str] | None, prog: str, description: str) -> BatchSettings:
    """Settings of a report job from its command line (and the environment)."""
    parser = _parser(prog, description)
    parser.add_argument("--date", help="business day YYYY-MM-DD (required)")
    parser.add_argument("--tz", help="business time zone (default Asia/Shanghai)")
    parser.add_argument("--reports", help="reports root (default /surge/reports)")
    parser.add_argument("--dedup-margin-hours", type=int, help="hours read beyond the day (1)")
    settings = _settings(parser, argv)
    if settings.date is None:
        parser.error("--date is required (or SURGE_BATCH_DATE)")
    return settings


def compact_args(argv: list[str] | None, prog: str, description: str) -> BatchSettings:
    """Settings of the compaction job: --date (its 24 UTC hours) or --hour."""
    parser = _parser(prog, description)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--date", help="compact every closed hour of this UTC date")
    which.add_argument("--hour", help="compact one UTC hour folder: YYYY-MM-DDTHH")
    parser.add_argument("--target-file-mb", type=int, help="size of compacted files (128)")
    parser.add_argument("--closed-after-s", type=int, help="seconds after the hour's end (900)")
    settings = _settings(parser, argv)
    if settings.date is None and settings.hour is None:
        parser.error("--date or --hour is required")
    return settings


def _settings(parser: argparse.ArgumentParser, argv: list[str] | None) -> BatchSettings:
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    try:
        return BatchSettings(**given)
    except ValueError as exc:  # pydantic's ValidationError: say it like any other bad flag
        parser.error(str(exc))
        raise  # unreachable: error() exits
