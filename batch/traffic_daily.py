"""traffic_daily: page views, devices, users, sessions, bounce rate by platform and campaign.

spark-submit batch/traffic_daily.py --date 2026-11-11 [--tz Asia/Shanghai]
    [--events URL] [--reports URL] [--master URL]
python -m batch.traffic_daily --date 2026-11-11 ...
"""

import sys

if not __package__:  # run as a file (spark-submit batch/x.py): import from the repo root
    from pathlib import Path

    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from batch.jobs import entry

main = entry("traffic_daily")

if __name__ == "__main__":
    sys.exit(main())
