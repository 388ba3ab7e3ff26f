"""The scenarios, in the order ``make chaos`` runs them: name -> function(Context) -> Row."""

from __future__ import annotations

from collections.abc import Callable

from chaos.outcome import Row
from chaos.run import Context
from chaos.scenarios import (
    broker_kill,
    collector_restart,
    hdfs_outage,
    hdfs_refusal,
    hostile_input,
    lander_kills,
    lander_rebalance,
    worker_kill,
)

SCENARIOS: dict[str, Callable[[Context], Row]] = {
    "broker_kill": broker_kill.run,
    "lander_kills": lander_kills.run,
    "hdfs_outage": hdfs_outage.run,
    "collector_restart": collector_restart.run,
    "lander_rebalance": lander_rebalance.run,
    "hdfs_refusal": hdfs_refusal.run,
    "hostile_input": hostile_input.run,
    "worker_kill": worker_kill.run,
}
# Those that stop a service of the stack: they need the local stack of this checkout.
NEED_OWN_STACK = {"broker_kill", "hdfs_outage"}
