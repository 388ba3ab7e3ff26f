"""Business days, their hour folders, and the command line (no Spark, no HDFS)."""

import datetime as dt

import pytest

from batch.day import BusinessDay, hour_folder, utc_date_hours
from batch.settings import BatchSettings, compact_args, report_args


def folders(day: BusinessDay, margin: int = 0) -> list[str]:
    return [
        hour_folder("/surge/events", h).removeprefix("/surge/events/") for h in day.hours(margin)
    ]


def test_a_shanghai_day_is_read_from_two_utc_dates():
    day = BusinessDay(dt.date(2026, 11, 11), "Asia/Shanghai")
    assert (day.start.isoformat(), day.end.isoformat()) == (
        "2026-11-10T16:00:00+00:00",
        "2026-11-11T16:00:00+00:00",
    )
    assert folders(day) == [f"dt=2026-11-10/hr={h:02d}" for h in range(16, 24)] + [
        f"dt=2026-11-11/hr={h:02d}" for h in range(16)
    ]


def test_the_margin_adds_an_hour_on_each_side():
    got = folders(BusinessDay(dt.date(2026, 11, 11), "Asia/Shanghai"), margin=1)
    assert (len(got), got[0], got[-1]) == (26, "dt=2026-11-10/hr=15", "dt=2026-11-11/hr=16")


def test_a_utc_day_is_its_own_date():
    assert folders(BusinessDay(dt.date(2026, 11, 11), "UTC")) == [
        f"dt=2026-11-11/hr={h:02d}" for h in range(24)
    ]


def test_a_half_hour_zone_reads_both_partial_hours():
    got = folders(BusinessDay(dt.date(2026, 11, 11), "Asia/Kolkata"))  # UTC+5:30
    assert (len(got), got[0], got[-1]) == (25, "dt=2026-11-10/hr=18", "dt=2026-11-11/hr=18")


def test_a_daylight_saving_day_has_23_hours():
    day = BusinessDay(dt.date(2026, 3, 29), "Europe/Paris")
    assert len(folders(day)) == 23
    assert day.end - day.start == dt.timedelta(hours=23)


def test_utc_date_hours_are_the_24_folders_of_a_date():
    hours = utc_date_hours(dt.date(2026, 11, 11))
    assert [hour_folder("", h) for h in hours][::23] == [
        "/dt=2026-11-11/hr=00",
        "/dt=2026-11-11/hr=23",
    ]


def test_report_args_take_flags_over_the_environment(monkeypatch):
    monkeypatch.setenv("SURGE_BATCH_EVENTS", "hdfs://nn:8020/from-env")
    monkeypatch.setenv("SURGE_BATCH_TZ", "UTC")
    settings = report_args(["--date", "2026-11-11", "--tz", "Asia/Shanghai"], "t", "")
    assert settings == BatchSettings(
        date=dt.date(2026, 11, 11), tz="Asia/Shanghai", events="hdfs://nn:8020/from-env"
    )
    assert (settings.reports, settings.master, settings.dedup_margin_hours) == (
        "/surge/reports",
        None,
        1,
    )


@pytest.mark.parametrize(
    "argv",
    [[], ["--date", "2026-11-31"], ["--date", "2026-11-11", "--tz", "Mars/Olympus"]],
)
def test_report_args_refuse_a_missing_or_bad_value(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        report_args(argv, "t", "")
    assert exit_.value.code == 2


def test_compact_args_take_an_hour_or_a_date(capsys):
    hour = compact_args(["--hour", "2026-11-11T05", "--target-file-mb", "64"], "t", "").hour
    assert hour == dt.datetime(2026, 11, 11, 5, tzinfo=dt.UTC)
    assert compact_args(["--date", "2026-11-11"], "t", "").date == dt.date(2026, 11, 11)
    with pytest.raises(SystemExit):
        compact_args(["--hour", "2026-11-11"], "t", "")
