"""A real stack for tests and benchmarks, wherever one can be had.

In this order:
1. an external stack named by ``SURGE_KAFKA_BOOTSTRAP`` and ``SURGE_HDFS_URL`` — an explicit
   setting always wins, so CI against a shared cluster never starts anything of its own;
2. a stack already answering at the local stack's addresses (``make stack-up``, maybe from
   another clone) — reused and left running;
3. the official images of ``infra/docker-compose.yml`` through testcontainers when a Docker
   engine answers;
4. the local stack, started here and stopped when the caller is done.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from infra.endpoints import Endpoints
from infra.settings import StackSettings
from infra.stack import LocalStack, wait_healthy

COMPOSE_DIR = Path(__file__).resolve().parent


@contextlib.contextmanager
def provide_stack(settings: StackSettings | None = None) -> Iterator[Endpoints]:
    settings = settings or StackSettings()
    external = Endpoints.from_env()
    if external is not None:
        wait_healthy(external, settings)
        yield external
        return
    local = LocalStack(settings)
    if local.is_healthy():
        yield local.endpoints
        return
    if _docker_answers():
        with _compose_stack(settings) as endpoints:
            yield endpoints
        return
    endpoints = local.up()
    try:
        yield endpoints
    finally:
        local.down()


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # no client library, no socket, no engine: all mean "no Docker"
        return False
    return True


@contextlib.contextmanager
def _compose_stack(settings: StackSettings) -> Iterator[Endpoints]:
    from testcontainers.compose import DockerCompose

    print("starting infra/docker-compose.yml with testcontainers ...", file=sys.stderr)
    with DockerCompose(COMPOSE_DIR, compose_file_name="docker-compose.yml"):
        endpoints = Endpoints(
            kafka_bootstrap="localhost:9092",
            webhdfs_url="http://localhost:9870",
            hdfs_default_fs="hdfs://localhost:8020",
            hdfs_user="hadoop",
        )
        wait_healthy(endpoints, settings)
        yield endpoints
