"""``python -m tests.stream.crash_lander point[:n]``: ``python -m stream`` (settings from the
environment), SIGKILLed the n-th time (default: the first) it reaches the fault point `point`
(stream/partition_writer.py FAULT_POINTS)."""

import sys

from stream.__main__ import main
from tests.stream.doubles import crash_at

if __name__ == "__main__":
    main(fault_hook=crash_at(sys.argv[1]))
