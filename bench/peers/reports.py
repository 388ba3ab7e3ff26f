"""The day's reports side by side: Surge's Spark jobs, DuckDB and Polars on the same Parquet.

bench/bench_reports.py generates the data (local files in the lander's layout) and holds the
Spark and DuckDB runs; Polars runs the same definitions (bench/peers/polars_reports.py). Each
engine runs --runs times with the same thread count; the medians are compared. No stack:
the files are local, so no lock is taken.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import bench_reports as br  # bench/ is sys.path[0]

from peers.tools import median

THREADS = 2  # bench_reports.py's local[2]: every engine gets the same


def section(args) -> dict:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    base = Path("/tmp/surge-bench")
    n = args.report_events
    root, info = br.ensure_data(n, base)
    print(f"reports over {n:,} events ({info['files']} files)", flush=True)
    options = argparse.Namespace(
        dir=base,
        master=f"local[{THREADS}]",
        driver_memory="4g",
        shuffle_partitions=8,
        java_options=br.JAVA_OPTIONS,
    )
    runs = []
    for k in range(args.runs):
        run = {"spark_s": br.spark_in_child(n, options)}
        out = base / f"duckdb-{n}"
        shutil.rmtree(out, ignore_errors=True)
        duck = br.run_duckdb(root, out, THREADS, "4GB")
        run["duckdb_s"], run["duckdb_totals"] = duck["total_s"], duck["totals"]
        polars = _run_polars(root, base / f"polars-{n}")
        if polars is not None:
            run["polars_s"], run["polars_totals"] = polars["total_s"], polars["totals"]
        run["totals_agree"] = totals_agree(duck["totals"], run.get("polars_totals"))
        print(
            f"  run {k + 1}: spark {run['spark_s']:.1f} s, duckdb {run['duckdb_s']:.1f} s, "
            f"polars {run.get('polars_s', float('nan')):.1f} s; DuckDB's and Polars' totals "
            f"{'agree' if run['totals_agree'] else 'DIFFER'}",
            flush=True,
        )
        runs.append(run)
    medians = {
        engine: median([r.get(f"{engine}_s") for r in runs])
        for engine in ("spark", "duckdb", "polars")
    }
    return {"events": n, "data": info, "runs": runs, "medians": medians}


def _run_polars(root: Path, out: Path) -> dict | None:
    try:
        from peers import polars_reports
    except ImportError:  # not written yet for every report: the table says "-"
        return None
    shutil.rmtree(out, ignore_errors=True)
    started = time.monotonic()
    totals = polars_reports.run(root, out, THREADS)
    return {"total_s": time.monotonic() - started, "totals": totals}


def totals_agree(duck: dict, polars: dict | None) -> bool:
    """The cross-check totals agree, to the cent (DuckDB keeps decimals, Polars floats)."""
    if polars is None:
        return False

    def flat(node) -> list:
        if isinstance(node, dict):
            return [x for key in sorted(node) if key != "events" for x in flat(node[key])]
        if isinstance(node, list | tuple):
            return [x for item in node for x in flat(item)]
        return [node]

    pairs = zip(flat(duck), flat(polars), strict=True)
    return all(a == b if isinstance(a, str) else abs(float(a) - float(b)) < 0.011 for a, b in pairs)


def rows(section: dict) -> list[tuple]:
    m, size = section["medians"], f"reports seconds ({section['events'] / 1e6:g} M events)"
    return [
        (size, m["spark"], "DuckDB", m["duckdb"], "<= 2", 2.0),
        (size, m["spark"], "Polars", m["polars"], "", None),
    ]
