"""The pure parts of bench/bench_peers.py: the Polars reports say what DuckDB's say, the totals
comparison catches a difference, and py-spy's stacks are summed as described. No stack."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_reports  # noqa: E402
from peers import cpu_profile, polars_reports, reports  # noqa: E402


def test_polars_reports_agree_with_duckdb(tmp_path):
    root, _ = bench_reports.ensure_data(60_000, tmp_path)
    duck = bench_reports.run_duckdb(root, tmp_path / "duck", 2, "1GB")
    polars = polars_reports.run(root, tmp_path / "polars", 2)
    assert polars["events"] == duck["events"]
    assert reports.totals_agree(duck["totals"], polars)
    for name in ("traffic_daily", "traffic_minute", "funnel_daily", "sales_daily"):
        assert (tmp_path / "polars" / f"{name}.parquet").stat().st_size > 0


def test_totals_that_differ_by_more_than_a_cent_are_told():
    duck = {"sales": [100.0, 3], "top": ["SKU-1", 10.0, 2]}
    assert reports.totals_agree(
        duck, {"events": 5, "sales": [100.004, 3], "top": ["SKU-1", 10.0, 2]}
    )
    assert not reports.totals_agree(duck, {"sales": [100.05, 3], "top": ["SKU-1", 10.0, 2]})
    assert not reports.totals_agree(duck, {"sales": [100.0, 3], "top": ["SKU-2", 10.0, 2]})
    assert not reports.totals_agree(duck, None)


def test_profile_summary_counts_self_and_inclusive_time(tmp_path):
    stacks = tmp_path / "stacks.txt"
    stacks.write_text(
        "main (app.py:1);handle (routes.py:5);parse (parse.py:9) 30\n"
        "main (app.py:1);handle (routes.py:5) 10\n"
        "main (app.py:1);write (libc.so.6) 60\n"
    )
    text = cpu_profile.summarize(stacks, top=10)
    assert "100 samples" in text
    self_part, inclusive = text.split("inclusive:")
    assert "60.0%  write (libc.so.6)" in self_part
    assert "30.0%  parse (parse.py)" in self_part
    assert "40.0%  handle (routes.py)" in inclusive
    assert "100.0%  main (app.py)" in inclusive
