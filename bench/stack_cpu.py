"""The CPU a benchmark's run costs, per process group: this process, the stack's JVMs.

The machine is shared and its speed moves by the hour, so events/s alone compare badly across
runs. CPU seconds per event do not move as much, and their sum says how fast the run could go
at best: ``ceiling`` is the events/s at which this pipeline's parts would use every core of
the machine, with nothing else running.
"""

from __future__ import annotations

import os

import psutil

KAFKA, NAMENODE, DATANODE = "kafka", "namenode", "datanode"


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU of these processes (all their threads); gone ones count as 0."""
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def stack_jvms(*names: str) -> list[psutil.Process]:
    """The stack's JVMs of these names (-Dsurge.stack=<its dir>:<name>, infra/jvm.py) of the
    stack this clone runs: other stacks on the machine are other people's."""
    from infra.settings import StackSettings

    stack_dir = StackSettings().stack_dir
    marks = {f"-Dsurge.stack={stack_dir}:{name}" for name in names}
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marks.intersection(proc.info["cmdline"] or ()):
            found.append(proc)
    return found


class CpuMeter:
    """CPU spent by named groups of processes between ``start()`` and ``per_event()``."""

    def __init__(self, groups: dict[str, list[psutil.Process]]):
        self.groups = groups
        self.started: dict[str, float] = {}

    def start(self) -> None:
        self.started = {name: cpu_seconds(procs) for name, procs in self.groups.items()}

    def spent(self) -> dict[str, float]:
        """CPU seconds by group since start()."""
        return {
            name: cpu_seconds(procs) - self.started[name] for name, procs in self.groups.items()
        }

    def per_event(self, events: int) -> dict[str, float]:
        """µs of CPU per event, by group, since start()."""
        return {name: s / max(1, events) * 1e6 for name, s in self.spent().items()}


def ceiling(us_per_event: dict[str, float], cores: int | None = None) -> float:
    """Events/s at which these CPU costs per event would take all the machine's cores."""
    return (cores or os.cpu_count() or 1) * 1e6 / max(1e-9, sum(us_per_event.values()))


def describe(us_per_event: dict[str, float]) -> str:
    parts = ", ".join(f"{name} {us:.1f}" for name, us in us_per_event.items())
    cores = os.cpu_count() or 1
    return (
        f"CPU per event (µs): {parts}; total {sum(us_per_event.values()):.1f}: "
        f"at most {ceiling(us_per_event, cores):,.0f} events/s on this machine's {cores} cores"
    )
