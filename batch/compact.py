"""Compaction: merge the small files of closed hour folders (see batch/compaction.py).

    spark-submit batch/compact.py --date 2026-11-11 [--events URL] [--target-file-mb 128]
        [--closed-after-s 900] [--master URL]
    spark-submit batch/compact.py --hour 2026-11-11T05 ...
    python -m batch.compact --date 2026-11-11 ...

--date takes the 24 UTC hour folders of dt=<date>; hours not yet closed are skipped.
"""

import datetime as dt
import sys

if not __package__:  # run as a file (spark-submit batch/x.py): import from the repo root
    from pathlib import Path

    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from batch.compaction import CompactionBusy, Compactor
from batch.day import utc_date_hours
from batch.session import spark_session
from batch.settings import compact_args


def main(argv: list[str] | None = None, now: dt.datetime | None = None) -> int:
    settings = compact_args(
        argv if argv is not None else sys.argv[1:],
        "batch/compact.py",
        "Merge the small files of closed hour folders into files near a target size.",
    )
    hours = [settings.hour] if settings.hour else utc_date_hours(settings.date)
    spark = spark_session(settings, app_name=f"surge compact {settings.hour or settings.date}")
    compactor = Compactor(
        spark, settings.events, settings.target_file_bytes, settings.closed_after_s
    )
    try:
        outcomes = compactor.run(hours, now or dt.datetime.now(dt.UTC))
    except CompactionBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(outcome, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
