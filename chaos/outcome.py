"""A scenario's result: one row of figures and its verdict, printed as a table and as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from infra.reconcile import Reconciliation


@dataclass
class Row:
    scenario: str
    offered: int = 0  # events the load generator scheduled
    acknowledged: int = 0  # distinct event ids answered 2xx
    landed: int = 0  # distinct (device_id, event_id) in the landed files
    lost: int = 0  # acknowledged, not landed
    duplicated: int = 0  # landed more than once (client retries)
    left_after_dedup: int = 0  # still counted twice after the reports' deduplication
    shed_503: int = 0
    shed_429: int = 0
    recovery_s: float | None = None  # from the fault's end to service again (see each scenario)
    file_problems: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)  # the scenario's own claims
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0  # the scenario's wall time
    skipped: str = ""  # why it could not run here

    def add_reconciliation(self, result: Reconciliation) -> None:
        self.acknowledged = result.acked
        self.landed = result.landed_distinct
        self.lost = len(result.lost)
        self.duplicated = result.duplicated
        self.left_after_dedup = len(result.left_after_dedup)
        self.file_problems = list(result.file_problems)
        if result.lost:
            self.notes.append(f"lost ids (first 5): {', '.join(result.lost[:5])}")
        if result.left_after_dedup:
            self.notes.append(f"counted twice (first 5): {', '.join(result.left_after_dedup[:5])}")

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks[name] = bool(ok)
        if not ok and detail:
            self.notes.append(f"{name}: {detail}")
        return bool(ok)

    @property
    def passed(self) -> bool:
        return (
            not self.skipped
            and self.acknowledged > 0
            and self.lost == 0
            and self.left_after_dedup == 0
            and not self.file_problems
            and all(self.checks.values())
        )

    @property
    def verdict(self) -> str:
        return "SKIP" if self.skipped else "PASS" if self.passed else "FAIL"

    def as_dict(self) -> dict:
        return asdict(self) | {"verdict": self.verdict}


COLUMNS = (
    ("scenario", "scenario"),
    ("offered", "offered"),
    ("acknowledged", "acked"),
    ("landed", "landed"),
    ("lost", "lost"),
    ("duplicated", "dup landed"),
    ("left_after_dedup", "dup after dedup"),
    ("shed_503", "503s"),
    ("shed_429", "429s"),
    ("recovery_s", "recovery s"),
    ("verdict", "verdict"),
)


def table(rows: list[Row]) -> str:
    """A Markdown table of the rows, with the failed checks and notes under it."""

    def cell(row: Row, key: str) -> str:
        value = row.verdict if key == "verdict" else getattr(row, key)
        if value is None:
            return "-"
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(cell(row, key) for key, _ in COLUMNS) + " |" for row in rows]
    for row in rows:
        failed = [name for name, ok in row.checks.items() if not ok]
        extra = [f"failed checks: {', '.join(failed)}"] if failed else []
        extra += row.file_problems[:5] + row.notes + ([row.skipped] if row.skipped else [])
        lines += [f"- {row.scenario}: {line}" for line in extra]
    return "\n".join(lines)


def write(rows: list[Row], folder: Path, stamp: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"chaos-{stamp}.json"
    path.write_text(json.dumps([row.as_dict() for row in rows], indent=1) + "\n")
    (folder / f"chaos-{stamp}.md").write_text(table(rows) + "\n")
    return path
