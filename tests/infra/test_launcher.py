"""The launcher's own behaviour, without starting the real services."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from infra.endpoints import Endpoints
from infra.errors import StackError
from infra.jvm import JvmProcesses, JvmSpec
from infra.kafka import new_cluster_id
from infra.settings import StackSettings
from infra.stack import LocalStack, check_alive

FAKE_JAVA = """#!{python}
import sys, time
if sys.argv[1:] == ["-version"]:
    sys.stderr.write('openjdk version "{version}" 2025-04-15\\n')
else:
    time.sleep(120)
"""


def fake_jdk(tmp_path: Path, version: str) -> Path:
    """A JDK folder whose bin/java reports ``version`` and otherwise just sleeps."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(FAKE_JAVA.format(python=sys.executable, version=version))
    java.chmod(0o755)
    return tmp_path / "jdk"


def test_settings_take_env_overrides(monkeypatch):
    monkeypatch.setenv("SURGE_KAFKA_PORT", "19092")
    monkeypatch.setenv("SURGE_TOPIC_PARTITIONS", "3")
    settings = StackSettings()
    assert (settings.kafka_port, settings.topic_partitions) == (19092, 3)
    assert Endpoints.of_local(settings).kafka_bootstrap == "127.0.0.1:19092"


def test_external_endpoints_come_from_env():
    env = {
        "SURGE_KAFKA_BOOTSTRAP": "k1:9092,k2:9092",
        "SURGE_HDFS_URL": "http://nn:9870/",
        "SURGE_HDFS_USER": "etl",
    }
    assert Endpoints.from_env(env) == Endpoints(
        "k1:9092,k2:9092", "http://nn:9870", "hdfs://nn:8020", "etl"
    )
    assert Endpoints.from_env({"SURGE_KAFKA_BOOTSTRAP": "k1:9092"}) is None


def test_old_java_is_refused_before_anything_starts(tmp_path):
    settings = StackSettings(stack_dir=tmp_path / "stack", java_home=fake_jdk(tmp_path, "11.0.2"))
    with pytest.raises(StackError, match=r"Java 11; the stack needs 17\+"):
        LocalStack(settings).up()
    assert not (tmp_path / "stack" / "run").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_taken_port_is_named_with_its_setting(tmp_path):
    ports = {field: free_port() for field in StackSettings.model_fields if field.endswith("_port")}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["kafka_port"]))
        squatter.listen()
        settings = StackSettings(
            stack_dir=tmp_path, java_home=fake_jdk(tmp_path, "17.0.15"), **ports
        )
        with pytest.raises(
            StackError, match=rf"port 127.0.0.1:{ports['kafka_port']} \(Kafka\).*SURGE_KAFKA_PORT"
        ):
            LocalStack(settings).up()


def test_stop_kills_what_it_started_and_nothing_else(tmp_path):
    jvms = JvmProcesses(tmp_path, fake_jdk(tmp_path, "17.0.15"))
    ours = jvms.start(JvmSpec(name="kafka", main_class="Main", classpath=".", heap="64m"))
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (tmp_path / "run" / "namenode.pid").write_text(str(stranger.pid))  # a recycled pid
        assert jvms.running("kafka").pid == ours.pid
        assert jvms.running("namenode") is None

        assert jvms.stop(["kafka", "namenode"]) == ["kafka"]

        assert ours.wait(timeout=10) is not None
        assert stranger.poll() is None
        assert not list((tmp_path / "run").iterdir())
    finally:
        stranger.kill()
        stranger.wait()


def test_a_service_that_dies_while_starting_is_reported_with_its_exit_and_log(tmp_path):
    jvms = JvmProcesses(tmp_path)
    jvms.log_dir.mkdir(parents=True)
    jvms.log_path("kafka").write_text("kafka: port already in use\n")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    dead.wait()
    try:
        check_alive({"namenode": alive}, jvms)  # alive: nothing to say
        with pytest.raises(StackError, match=r"kafka exited while starting \(exit 3\)") as error:
            check_alive({"namenode": alive, "kafka": dead}, jvms)
        assert "port already in use" in str(error.value)
    finally:
        alive.kill()
        alive.wait()


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch):
    # 0xf8 encodes to a leading '-' in URL-safe base64: the format tool would take it for a flag.
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x07" + bytes(15))])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(drawn))
    assert new_cluster_id() == base64.urlsafe_b64encode(b"\x07" + bytes(15)).decode().rstrip("=")
