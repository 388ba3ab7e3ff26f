"""funnel_daily: devices at each funnel step and step conversion by platform and campaign.

spark-submit batch/funnel_daily.py --date 2026-11-11 [--tz Asia/Shanghai]
    [--events URL] [--reports URL] [--master URL]
python -m batch.funnel_daily --date 2026-11-11 ...
"""

import sys

if not __package__:  # run as a file (spark-submit batch/x.py): import from the repo root
    from pathlib import Path

    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from batch.jobs import entry

main = entry("funnel_daily")

if __name__ == "__main__":
    sys.exit(main())
