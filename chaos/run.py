"""One scenario's frame, the same for all: its own topic, root and group; the collector and a
lander started; steady load and the probe; then, whatever the fault did, the load drained, the
lander given time to catch up, everything stopped, and the reconciliation.

    with ScenarioRun("broker_kill", ctx) as run:
        run.start(load_s=60)          # collector, lander, load, probe
        ...inject the fault, with run.row.check(...) for what it must show...
    run.row                           # the figures and the verdict
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hdfs import InsecureClient

from chaos.kafka import KafkaView
from chaos.load import SteadyLoad
from chaos.outcome import Row
from chaos.services import Namespace, Services
from chaos.settings import ChaosSettings
from chaos.stack_faults import StackFaults
from chaos.watch import Probe
from infra.endpoints import Endpoints
from infra.reconcile import Landed, read_landed, reconcile
from loadgen import Results


@dataclass(frozen=True)
class Context:
    """What every scenario of one suite run shares."""

    endpoints: Endpoints
    settings: ChaosSettings
    faults: StackFaults
    run_id: str
    log_dir: Path


class ScenarioRun:
    def __init__(self, name: str, ctx: Context):
        self.ctx, self.settings = ctx, ctx.settings
        self.space = Namespace(name, ctx.run_id, ctx.settings.hdfs_prefix)
        self.kafka = KafkaView(ctx.endpoints.kafka_bootstrap)
        self.services = Services(ctx.endpoints, ctx.settings, self.space, ctx.log_dir / name)
        self.row = Row(name)
        self.load: SteadyLoad | None = None
        self.probe: Probe | None = None
        self.results: Results | None = None
        self.landed: Landed | None = None
        self.after_reconcile: list[Callable[[], None]] = []  # the scenario's own looks at it
        self.started = time.monotonic()

    def __enter__(self) -> ScenarioRun:
        self.kafka.create_topics(
            {self.space.topic: self.settings.partitions, self.space.dlq_topic: 1}
        )
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc is None:
                self.finish()
        finally:
            if self.probe is not None:
                self.probe.stop()
            self.services.stop_all()
            self.row.seconds = round(time.monotonic() - self.started, 1)
            if exc is None and self.row.passed and not self.settings.keep_data:
                self.clean()

    # -- the frame ---------------------------------------------------------------------------

    def start(
        self, load_s: float, landers: int = 1, probe: bool = True, collector_workers: int = 1
    ) -> None:
        self.services.start_collector(workers=collector_workers)
        for _ in range(landers):
            self.services.start_lander()
        self.load = SteadyLoad(self.services.url, self.settings, load_s).start()
        if probe:
            self.probe = Probe(self.services.url).start()

    def finish(self) -> None:
        """Drain the load, let the landers catch up, stop everything, reconcile."""
        assert self.load is not None
        self.results = results = self.load.wait()
        if self.probe is not None:
            self.probe.stop()
        statuses = results.tally.statuses
        self.row.offered = results.tally.offered_events
        self.row.shed_503 += statuses.get(503, 0)
        self.row.shed_429 += statuses.get(429, 0)
        if not self.services.live_landers():  # the scenario's last lander was killed
            self.services.start_lander()
        caught_up = self.wait_landed(self.settings.land_timeout_s)
        self.row.check(
            "lander caught up", caught_up, f"not within {self.settings.land_timeout_s} s"
        )
        codes = self.services.stop_all()
        self.row.check(
            "clean shutdown", all(code == 0 for code in codes.values()), f"exit codes {codes}"
        )
        self.reconcile()

    def acked_ids(self) -> list[str]:
        ids = list(self.results.acked_ids()) if self.results is not None else []
        return ids + (self.probe.acked_ids if self.probe is not None else [])

    def reconcile(self) -> None:
        client = InsecureClient(self.ctx.endpoints.webhdfs_url, user=self.ctx.endpoints.hdfs_user)
        self.landed = landed = read_landed(client, self.space.root, self.space.topic)
        ends = self.kafka.end_offsets(self.space.topic, self.settings.partitions)
        result = reconcile(self.acked_ids(), landed, ends)
        self.row.add_reconciliation(result)
        print(f"[{self.space.scenario}] {result.summary()}", flush=True)
        for look in self.after_reconcile:
            look()

    # -- waiting on the lander ---------------------------------------------------------------

    def lag(self) -> int:
        space, n = self.space, self.settings.partitions
        ends = self.kafka.end_offsets(space.topic, n)
        committed = self.kafka.committed(space.group, space.topic, n)
        return sum(end - committed.get(p, 0) for p, end in ends.items())

    def wait_landed(self, timeout_s: float) -> bool:
        """Until the group's committed offsets reach the topic's end (the lander commits only
        what it has published)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.lag() <= 0:
                return True
            time.sleep(1.0)
        return False

    def wait_progress(self, since: float, timeout_s: float = 120) -> float | None:
        """Seconds from ``since`` until every partition that had records to land has committed
        further than it had at ``since``'s call: the landers publish again."""
        space, n = self.space, self.settings.partitions
        before = self.kafka.committed(space.group, space.topic, n)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ends = self.kafka.end_offsets(space.topic, n)
            now = self.kafka.committed(space.group, space.topic, n)
            if all(now[p] > before[p] or now[p] >= ends[p] for p in range(n)):
                return time.monotonic() - since
            time.sleep(0.25)
        return None

    def clean(self) -> None:
        self.kafka.delete_topics([self.space.topic, self.space.dlq_topic])
        client = InsecureClient(self.ctx.endpoints.webhdfs_url, user=self.ctx.endpoints.hdfs_user)
        client.delete(self.space.root.rsplit("/", 1)[0], recursive=True)
