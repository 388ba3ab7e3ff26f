"""A scenario's verdict and table, from figures made up here (no stack needed)."""

from __future__ import annotations

import gzip
from collections import Counter

from chaos.hostile import bad_answer, bomb
from chaos.outcome import Row, table
from collector.settings import CollectorSettings
from infra.reconcile import Landed, reconcile


def _reconciled(acked: list[str], keys: Counter) -> Row:
    row = Row("broker_kill", offered=10)
    row.add_reconciliation(reconcile(acked, Landed(keys=keys)))
    return row


def test_a_clean_reconciliation_with_retry_duplicates_passes() -> None:
    row = _reconciled(["a", "b"], Counter({("d", "a"): 2, ("d", "b"): 1}))
    row.check("refused with 503", True)
    assert row.verdict == "PASS"
    assert (row.acknowledged, row.landed, row.duplicated, row.left_after_dedup) == (2, 2, 1, 0)


def test_a_lost_id_a_failed_check_or_nothing_acknowledged_fails() -> None:
    lost = _reconciled(["a", "b"], Counter({("d", "a"): 1}))
    assert lost.verdict == "FAIL" and lost.lost == 1 and "b" in lost.notes[0]
    failed = _reconciled(["a"], Counter({("d", "a"): 1}))
    failed.check("/readyz false during the outage", False, "statuses [200]")
    assert failed.verdict == "FAIL"
    assert "failed checks: /readyz false during the outage" in table([failed])
    assert Row("idle").verdict == "FAIL"  # a run that acknowledged nothing proved nothing
    assert Row("x", skipped="not our stack").verdict == "SKIP"


def test_the_table_has_a_line_per_scenario() -> None:
    rows = [_reconciled(["a"], Counter({("d", "a"): 1})), Row("y", skipped="why")]
    rows[0].recovery_s = 2.345
    text = table(rows)
    assert text.splitlines()[2].startswith("| broker_kill | 10 | 1 | 1 | 0 | 0 | 0 | 0 | 0 | 2.3 |")
    assert "| y |" in text and "- y: why" in text


def test_only_unshed_server_errors_count_against_hostile_input() -> None:
    assert bad_answer(500, None) and bad_answer(503, None) and bad_answer(502, "1")
    assert not bad_answer(503, "1") and not bad_answer(429, "2")
    assert not bad_answer(400, None) and not bad_answer(None, None)


def test_the_gzip_bomb_is_small_as_sent_and_huge_unzipped() -> None:
    limits = CollectorSettings()
    sent = bomb(64)
    assert len(sent) < limits.max_body_bytes
    assert len(gzip.decompress(sent)) > limits.max_decompressed_bytes
