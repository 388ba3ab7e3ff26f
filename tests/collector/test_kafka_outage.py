"""Kafka stops under the collector: POSTs answer 503 within the delivery deadline, /readyz
turns false, the producer's queue stays bounded; Kafka returns: the collector recovers alone.

Stops the Kafka JVM of this checkout's local stack (and starts it again): skipped when the
stack is not one this test may stop (an external one, or Docker).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from infra import kafka as infra_kafka
from infra.jvm import JvmProcesses
from infra.settings import StackSettings
from infra.stack import LocalStack

pytestmark = pytest.mark.integration


def _ours_to_stop(stack) -> StackSettings | None:
    settings = StackSettings()
    local = infra_kafka.bootstrap(settings) == stack.kafka_bootstrap
    running = JvmProcesses(settings.stack_dir).running(infra_kafka.NAME) is not None
    return settings if local and running else None


def test_kafka_outage_gives_fast_503s_and_recovers_by_itself(
    serve, stack, runner, kafka, make_event
):
    stack_settings = _ours_to_stop(stack)
    if stack_settings is None:
        pytest.skip("Kafka is not a JVM of this checkout's local stack: not ours to stop")
    from collector.ingest import COLLECTOR
    from collector.settings import CollectorSettings

    settings = CollectorSettings(
        workers=1,
        port=0,
        kafka_bootstrap=stack.kafka_bootstrap,
        delivery_timeout_s=1.0,
        health_interval_s=0.25,
    )
    served = serve(settings)
    _wait_for(served, lambda: served.get("/readyz").status == 200, 30)
    assert served.post("/v1/batch", json={"events": [make_event()]}).status == 200

    try:
        JvmProcesses(stack_settings.stack_dir).stop([infra_kafka.NAME])
        first = served.post("/v1/batch", json={"events": [make_event()]})
        assert first.status == 503
        assert first.headers["Retry-After"] in ("1", "2", "3")
        assert first.elapsed_s < settings.delivery_timeout_s + 0.5
        _wait_for(served, lambda: served.get("/readyz").status == 503, 5)
        ready = served.get("/readyz")
        assert ready.body == {"ready": False, "kafka": False, "draining": False}
        # Known down: refused at once, nothing queued.
        answers = [served.post("/v1/batch", json={"events": [make_event()]}) for _ in range(20)]
        assert {a.status for a in answers} == {503}
        assert max(a.elapsed_s for a in answers) < 0.2
        assert served.app[COLLECTOR].sink.pending_bytes() <= settings.max_pending_bytes
    finally:
        LocalStack(stack_settings).up()

    device = f"d_{uuid.uuid4().hex}"
    since = runner.run(kafka.end_offsets("surge.events"))
    _wait_for(
        served,
        lambda: (
            served.post("/v1/batch", json={"events": [make_event(device_id=device)]}).status == 200
        ),
        60,
    )
    assert served.get("/readyz").status == 200
    found = runner.run(kafka.read_since(since, lambda v: v.get("device_id") == device, 1))
    assert found, "the event acknowledged after recovery is not in Kafka"


def _wait_for(served, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        served.runner.run(asyncio.sleep(0.2))
