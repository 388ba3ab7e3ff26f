"""The short versions of the fault scenarios 1, 2 and 7 on the real stack (``make chaos`` runs
them all, longer). Each must PASS: nothing acknowledged lost, nothing counted twice after
deduplication, the lander's files exactly once, and the scenario's own claims."""

from __future__ import annotations

import uuid

import pytest

from chaos.__main__ import run_one
from chaos.outcome import table
from chaos.run import Context
from chaos.settings import ChaosSettings
from chaos.stack_faults import StackFaults
from infra.settings import StackSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ctx(stack, tmp_path_factory) -> Context:
    settings = ChaosSettings(short=True, results_dir=tmp_path_factory.mktemp("chaos"))
    return Context(
        endpoints=stack,
        settings=settings,
        faults=StackFaults(StackSettings()),
        run_id=f"test-{uuid.uuid4().hex[:8]}",
        log_dir=settings.results_dir / "logs",
    )


def _passes(name: str, ctx: Context) -> None:
    row = run_one(name, ctx)
    print(table([row]))
    if row.skipped:
        pytest.skip(row.skipped)
    assert row.verdict == "PASS", table([row])


def test_broker_killed_mid_load(ctx, local_stack) -> None:
    _passes("broker_kill", ctx)


def test_lander_killed_again_and_again(ctx) -> None:
    _passes("lander_kills", ctx)


def test_hostile_input(ctx) -> None:
    _passes("hostile_input", ctx)
