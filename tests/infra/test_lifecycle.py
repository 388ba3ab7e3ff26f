"""A second, throwaway local stack on other ports: up, up again, down, up warm, down."""

from __future__ import annotations

import psutil
import pytest

from infra.settings import StackSettings
from infra.stack import LocalStack

pytestmark = pytest.mark.integration

PORT_OFFSET = 1000  # clear of the session stack's defaults


def our_processes(stack_dir) -> list[psutil.Process]:
    mark = f"-Dsurge.stack={stack_dir}:"
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(arg.startswith(mark) for arg in proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def cluster_id(settings: StackSettings) -> str:
    meta = (settings.stack_dir / "kafka" / "data" / "meta.properties").read_text()
    return next(line for line in meta.splitlines() if line.startswith("cluster.id="))


def test_stack_formats_once_reuses_state_and_stops_everything(tmp_path):
    ports = {
        name: field.default + PORT_OFFSET
        for name, field in StackSettings.model_fields.items()
        if name.endswith("_port")
    }
    settings = StackSettings(stack_dir=tmp_path / "stack", **ports)
    stack = LocalStack(settings)
    try:
        stack.up()
        pids = {status.name: status.pid for status in stack.status()}
        assert all(pids.values()) and stack.is_healthy()
        first_cluster = cluster_id(settings)
        namenode_version = (
            settings.stack_dir / "hdfs" / "name" / "current" / "VERSION"
        ).read_text()

        stack.up()  # already up: nothing restarted
        assert {status.name: status.pid for status in stack.status()} == pids

        assert sorted(stack.down()) == sorted(pids)
        assert our_processes(settings.stack_dir) == []
        assert not any(psutil.pid_exists(pid) for pid in pids.values())

        stack.up()  # warm: same formatted storage
        assert cluster_id(settings) == first_cluster
        assert (
            settings.stack_dir / "hdfs" / "name" / "current" / "VERSION"
        ).read_text() == namenode_version
        assert stack.is_healthy()
    finally:
        stack.down()
    assert our_processes(settings.stack_dir) == []
