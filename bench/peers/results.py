"""The facts of the machine and the commit a run measured, and the results file it writes."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import psutil

from peers.tools import REPO

RESULTS = REPO / "bench" / "results"


def _run(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (done.stdout + done.stderr).strip()


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    java = _run(["java", "-version"]).splitlines()
    return {
        "cpu_model": model[1] if model else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "java": java[0] if java else "unknown",
        "go": _run(["go", "version"]),
        "load_average_at_start": os.getloadavg(),
    }


def commit() -> dict:
    head = _run(["git", "-C", str(REPO), "rev-parse", "HEAD"])
    dirty = bool(_run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"]))
    return {"commit": head, "dirty": dirty}


def save(results: dict, partial: bool = False) -> Path:
    """bench/results/<start time>.json; while the run goes on, <start time>.partial.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["started_utc"]
    path = RESULTS / f"{stamp}{'.partial' if partial else ''}.json"
    if not partial:
        (RESULTS / f"{stamp}.partial.json").unlink(missing_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


BENCHMARKS_MD = REPO / "BENCHMARKS.md"
TABLE_START, TABLE_END = "<!-- latest table: start -->", "<!-- latest table: end -->"


def update_benchmarks_md(results: dict, saved: Path) -> None:
    """Put this run's table between the markers of BENCHMARKS.md, with what it ran on."""
    m = results["machine"]
    load = ", ".join(f"{x:.1f}" for x in m["load_average_at_start"])
    options = results["options"]
    if options.get("table_only"):  # each section's options are in the file it came from
        ran = "Sections of " + ", ".join(f"`{Path(f).name}`" for f in options["merge"])
    else:
        ran = f"Run of {results['started']}, options `{_options(options)}`"
    head = (
        f"{ran}, at commit `{results['commit'][:10]}`"
        f"{' (uncommitted changes)' if results['dirty'] else ''}; {m['cpu_model']}, "
        f"{m['cores']} cores, "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}, {m['java']}, "
        f"{m['go']}; load average at the start {load}. "
        f"Every run: `{saved.relative_to(REPO)}`."
    )
    text = BENCHMARKS_MD.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    BENCHMARKS_MD.write_text(f"{text[:start]}\n{head}\n\n{results['table']}\n{text[end:]}")


def _options(options: dict) -> str:
    shown = {k: v for k, v in options.items() if v not in (None, False) and k != "only"}
    return " ".join(f"{k}={v}" for k, v in shown.items())
