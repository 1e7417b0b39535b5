"""The faults survived and the load figures, recorded by tests, rendered for RELIABILITY.md.

The fault and load tests call `record_fault` and `record_load`. They write only when
``NEEDLEBOT_RELIABILITY_DIR`` is set (the RELIABILITY.md generator sets it, runs those tests, then
renders what they wrote with `faults_section` and `load_section`); a plain test run writes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV = "NEEDLEBOT_RELIABILITY_DIR"
FAULTS_FILE = "faults.jsonl"
LOAD_FILE = "load.json"


def _directory() -> Path | None:
    value = os.environ.get(ENV)
    if not value:
        return None
    Path(value).mkdir(parents=True, exist_ok=True)
    return Path(value)


def record_fault(fault: str, outcome: str, seconds: float) -> None:
    """Record one fault the bot survived: what was done to it, what happened, in how many seconds."""
    if (directory := _directory()) is not None:
        with (directory / FAULTS_FILE).open("a") as file:
            file.write(json.dumps({"fault": fault, "outcome": outcome, "seconds": seconds}) + "\n")


def record_load(figures: dict[str, Any]) -> None:
    """Record the load run's figures (see tests/test_load.py for the keys)."""
    if (directory := _directory()) is not None:
        (directory / LOAD_FILE).write_text(json.dumps(figures, indent=1))


def faults_section(directory: Path) -> str:
    """Markdown: a table of the faults recorded in ``directory`` (empty when none were)."""
    path = directory / FAULTS_FILE
    if not path.exists():
        return "## Faults survived\n\nNot measured (the fault tests did not run).\n"
    lines = ["## Faults survived", "", "| Fault | What happened | Time |", "|---|---|---|"]
    for line in path.read_text().splitlines():
        row = json.loads(line)
        lines.append(f"| {_cell(row['fault'])} | {_cell(row['outcome'])} | {row['seconds']:.1f} s |")
    return "\n".join(lines) + "\n"


def load_section(directory: Path) -> str:
    """Markdown: the load figures recorded in ``directory``."""
    path = directory / LOAD_FILE
    if not path.exists():
        return "## Load\n\nNot measured (the load test did not run).\n"
    f = json.loads(path.read_text())
    mb = 1e6
    lines = [
        "## Load",
        "",
        f"{f['requests']} `/rate` requests from {f['users']} users sent at once through the fake Discord "
        f"({f['real']} real recordings, {f['requests'] - f['real']} generated songs), "
        f"{f['workers']} workers, `per_user = {f['per_user']}`.",
        "",
        "| Figure | Value |",
        "|---|---|",
        f"| Answered | {f['answered']} of {f['requests']} ({f['rated']} ratings, {f['refused']} refusals) |",
        f"| Whole burst | {f['seconds']:.1f} s |",
        f"| Queue peak (jobs waiting) | {f['queue_peak']} |",
        f"| Worst event-loop stall | {f['worst_stall_ms']:.0f} ms |",
        f"| Peak RSS, bot process (with the fake Discord and pytest) | {f['rss_bot_peak'] / mb:.0f} MB |",
        f"| Peak RSS, audio workers together | {f['rss_workers_peak'] / mb:.0f} MB |",
        "",
        "Waiting time per user (dispatch to answer, seconds): "
        + ", ".join(f"{user}: {w['mean']:.1f} mean / {w['max']:.1f} max" for user, w in f["waits"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
