"""The figures of a run and the table they make: one row per figure, PASS/FAIL per target."""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Row:
    """One measured figure of a scenario, and its target when it has one.

    ``passed`` is None for a figure shown without a target (duplicates after a
    SIGKILL, seconds until lag 0, commits seen), which is neither PASS nor FAIL.
    """

    scenario: str
    figure: str
    measured: str
    target: str = "-"
    passed: bool | None = None
    note: str = ""

    @property
    def result(self) -> str:
        return {True: "PASS", False: "FAIL", None: "-"}[self.passed]


def count(n: int) -> str:
    """1234567 -> '1,234,567'."""
    return f"{n:,}"


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def commit_of_checkout() -> str:
    """The short commit this checkout is on, '+dirty' when files differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + ("+dirty" if dirty else "")


def heading(mode: str, took: float) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Fault suite, {mode} run, {now}, commit {commit_of_checkout()}, {took / 60:.1f} min"


def table(rows: list[Row]) -> str:
    """A Markdown table, pasteable as is (docs/reliability.md)."""
    lines = [
        "| scenario | figure | measured | target | result | how |",
        "|---|---|---|---|---|---|",
    ]
    previous = None
    for row in rows:
        name = row.scenario if row.scenario != previous else ""
        previous = row.scenario
        cells = (name, row.figure, row.measured, row.target, row.result, row.note)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def failures(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.passed is False]
