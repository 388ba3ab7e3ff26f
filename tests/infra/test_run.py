"""``make run``'s path end to end, short: twice on the same stack, each run reconciled and its
report totals checked against what its load generator sent."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from infra.endpoints import Endpoints
from infra.run import Options, play, summary

pytestmark = pytest.mark.integration
TZ = "Asia/Shanghai"


def _options(tmp_path: Path) -> Options:
    return Options(
        duration_s=15,
        base_events_per_s=200,
        peak_factor=5,
        tz=TZ,
        marks=[Decimal(1000), Decimal(10**12)],
        runs_dir=tmp_path,
        run_id=f"test-{uuid.uuid4().hex[:8]}",
    )


def test_two_runs_on_one_stack_each_reconcile_with_figures_of_their_own(
    stack: Endpoints, tmp_path: Path
) -> None:
    first = play(stack, _options(tmp_path))
    second = play(stack, _options(tmp_path))
    assert first.namespace != second.namespace
    for outcome in (first, second):
        rec, figures, expected = outcome.reconciliation, outcome.figures, outcome.expected
        acked = outcome.results["events"]["acked"]
        assert acked > 2000
        assert rec.passed, rec.summary()
        assert rec.acked == acked and rec.lost == [] and rec.file_problems == []
        # Every acknowledged event is in the reports once, and they count exactly what this
        # run landed: for the second run, nothing of the first.
        assert figures.events == rec.landed_distinct >= acked
        # The reports' sales are those of the payments this run's load generator sent.
        assert expected.acked.paid_orders > 10
        assert figures.gmv == expected.total.gmv
        assert figures.paid_orders == expected.total.paid_orders
        assert outcome.problems == [] and outcome.passed
        assert figures.marks[Decimal(10**12)] is None and figures.top
        text = summary(outcome, TZ)
        assert text.endswith("\nPASS") and f"¥{figures.gmv:,.2f}" in text
        assert outcome.dashboard.stat().st_size > 1_000_000  # plotly.js inlined
        assert (outcome.out_dir / "collector.log").stat().st_size > 0
