"""Every report of one business day from one read of its events (the fastest way to run them).

spark-submit batch/reports.py --date 2026-11-11 [--tz Asia/Shanghai]
    [--events URL] [--reports URL] [--master URL]
python -m batch.reports --date 2026-11-11 ...
"""

import sys

if not __package__:  # run as a file (spark-submit batch/x.py): import from the repo root
    from pathlib import Path

    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from batch import jobs


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    return jobs.main(list(jobs.REPORTS), argv, "batch/reports.py")


if __name__ == "__main__":
    sys.exit(main())
