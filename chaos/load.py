"""Steady load from ``loadgen`` in a background thread, while the scenario injects its fault."""

from __future__ import annotations

import random
import threading

from chaos.settings import ChaosSettings
from loadgen import Constant, LoadConfig, Results, run


class SteadyLoad:
    def __init__(self, url: str, settings: ChaosSettings, duration_s: float):
        self.config = LoadConfig(
            url=url,
            profile=Constant(events_per_s=settings.events_per_s, duration_s=duration_s),
            events_per_request=settings.events_per_request,
            # Each scenario its own ids: scenarios share nothing but the stack.
            seed=random.randrange(1 << 30),
            max_attempts=settings.max_attempts,
            # Enough for the last batches of an outage to be retried until accepted.
            drain_s=90.0,
            progress=False,
        )
        self.results: Results | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)

    def _run(self) -> None:
        try:
            self.results = run(self.config)
        except BaseException as exc:  # reported by wait()
            self.error = exc

    def start(self) -> SteadyLoad:
        self._thread.start()
        return self

    def wait(self) -> Results:
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.results is not None
        return self.results
