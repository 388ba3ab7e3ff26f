"""The lander against the real Kafka and HDFS: what lands is checked against the topic."""

import time

import pytest

from infra.jvm import JvmProcesses
from infra.settings import StackSettings
from infra.stack import LocalStack
from stream.partition_writer import FAULT_POINTS

pytestmark = pytest.mark.integration


def test_a_normal_run_lands_every_record_once_in_its_hour(lander_run):
    lander_run.produce(2000)
    lander = lander_run.start()
    lander_run.wait_landed(2000, procs=[lander])
    assert lander_run.stop(lander) == 0
    topic = lander_run.assert_exactly_once()
    assert len(topic) == 2000
    assert len({(w.bucket) for w in topic.values()}) == 3  # the events span three hours
    assert "published" in lander_run.log(lander)


def test_sigkill_at_each_point_then_restart_lands_every_record_once(lander_run):
    # Small polls, so that a run reaches every point of several rotations.
    lander_run.produce(1500)
    logged_renames_left = False
    for point in FAULT_POINTS:
        nth = {"added": 3, "temp_written": 2, "wal_written": 2}.get(point, 1)
        lander = lander_run.start(crash_at=f"{point}:{nth}", max_poll_records=50)
        try:
            code = lander.wait(90)
        except Exception:
            pytest.fail(f"lander never reached {point}:\n{lander_run.log(lander)[-3000:]}")
        log = lander_run.log(lander)
        assert code == -9, f"{point}: exit {code}\n{log[-3000:]}"
        # After a crash with renames logged, the next run completes them from the log.
        assert ("applied" in log and "logged renames" in log) == logged_renames_left, log
        logged_renames_left = point in ("wal_written", "between_renames", "renamed")
        lander_run.assert_no_duplicates()
        lander_run.produce(300)  # more work for the next run, whatever this one left
    lander = lander_run.start()
    lander_run.wait_landed(1500 + 300 * len(FAULT_POINTS), procs=[lander])
    assert lander_run.stop(lander) == 0
    assert "logged renames" in lander_run.log(lander)
    lander_run.assert_exactly_once()


def test_a_second_lander_joining_and_leaving_loses_and_duplicates_nothing(lander_run):
    producing = lander_run.produce_slowly(3000, seconds=15)
    first = lander_run.start()
    time.sleep(4)
    second = lander_run.start()
    time.sleep(7)
    assert lander_run.stop(second) == 0  # leaves the group gracefully
    producing.join()
    lander_run.wait_landed(3000, procs=[first])
    assert lander_run.stop(first) == 0
    lander_run.assert_exactly_once()
    assert "published" in lander_run.log(second), "the second lander never took a partition"


def test_hdfs_down_for_a_while_loses_and_duplicates_nothing(lander_run):
    settings = StackSettings()
    jvms = JvmProcesses(settings.stack_dir)
    if jvms.running("namenode") is None:
        pytest.skip("HDFS is not the local stack of this run: cannot stop it")
    lander_run.produce(1000)
    lander = lander_run.start()
    lander_run.wait_landed(300, procs=[lander])
    jvms.stop(["datanode", "namenode"])
    try:
        lander_run.produce(1000)
        time.sleep(8)  # the lander fails to publish and backs off
        assert lander.poll() is None, lander_run.log(lander)[-3000:]
    finally:
        LocalStack(settings).up()
    lander_run.wait_landed(2000, timeout=120, procs=[lander])
    assert lander_run.stop(lander) == 0
    lander_run.assert_exactly_once()
    assert "retrying" in lander_run.log(lander)


def test_undecodable_records_go_to_the_dlq_and_the_rest_lands(lander_run):
    bad = {5: b"not json", 17: b"[1, 2, 3]", 40: b'{"type": "page_view"}', 41: None}
    lander_run.produce(200, bad=bad)
    lander = lander_run.start()
    lander_run.wait_landed(200 - len(bad), procs=[lander])
    dlq = lander_run.dlq_records(len(bad))
    assert lander_run.stop(lander) == 0
    lander_run.assert_exactly_once()
    assert sorted(r["reason"] for r in dlq) == sorted(
        ["not_json", "not_an_object", "missing_field", "empty"]
    )
    assert all(r["source"]["topic"] == lander_run.topic and r["stage"] == "lander" for r in dlq)
    assert [r["raw_text"] for r in dlq if r["raw_text"] is not None] == ["not json"]
    assert [1, 2, 3] in [r.get("raw") for r in dlq]


def test_kafka_down_for_a_while_then_the_lander_resumes_by_itself(lander_run):
    settings = StackSettings()
    jvms = JvmProcesses(settings.stack_dir)
    if jvms.running("kafka") is None:
        pytest.skip("Kafka is not the local stack of this run: cannot stop it")
    lander_run.produce(1000)
    lander = lander_run.start()
    lander_run.wait_landed(300, procs=[lander])
    jvms.stop(["kafka"])
    try:
        time.sleep(8)  # longer than the session timeout: the group forgets the lander
        assert lander.poll() is None, lander_run.log(lander)[-3000:]
    finally:
        LocalStack(settings).up()
    lander_run.produce(1000)
    lander_run.wait_landed(2000, timeout=120, procs=[lander])
    assert lander_run.stop(lander) == 0
    lander_run.assert_exactly_once()
