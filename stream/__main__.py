"""``python -m stream``: run the lander until SIGTERM or SIGINT (settings: stream/settings.py)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from stream.consumer import Lander
from stream.metrics import Metrics
from stream.partition_writer import FaultHook, no_fault
from stream.settings import LanderSettings


class _Throttle(logging.Filter):
    """One record per message per `seconds` from a noisy library: while Kafka is down,
    aiokafka logs every failed reconnect, ten times a second."""

    def __init__(self, prefix: str, seconds: float):
        super().__init__()
        self.prefix, self.seconds = prefix, seconds
        self.last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        key, now = (record.name, record.msg), time.monotonic()
        if now - self.last.get(key, -self.seconds) < self.seconds:
            return False
        self.last[key] = now
        return True


async def _main(settings: LanderSettings, fault_hook: FaultHook) -> None:
    metrics = Metrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    lander = Lander(settings, metrics=metrics, fault_hook=fault_hook)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lander.stop)
    await lander.run()


def main(fault_hook: FaultHook = no_fault) -> None:
    """`fault_hook`: for the fault tests (tests/stream/crash_lander.py)."""
    settings = LanderSettings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for chatty in ("aiokafka", "hdfs"):  # a line per request or reconnect at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Throttle("aiokafka", 10.0))
    asyncio.run(_main(settings, fault_hook))


if __name__ == "__main__":
    main()
