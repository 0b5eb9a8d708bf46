"""docs/fault-matrix.md, written from the fault catalog the tests in this folder run:

    python -m tests.faults.matrix > docs/fault-matrix.md
"""

from __future__ import annotations

import sys

from tests.faults.catalog import GROUPS, SYSTEMS

COMMAND = "python -m tests.faults.matrix > docs/fault-matrix.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def render() -> str:
    """The matrix: one row per fault, with the gate that catches it and the words it says."""
    rows = [(g, f) for g in GROUPS for f in g.faults]
    lines = [
        "# Fault matrix",
        "",
        f"Generated from `tests/faults/catalog.py` by `{COMMAND}`; a test fails when it is",
        "stale. `tests/faults/test_faults.py` injects each fault into a copy of the seed",
        "example named (one changed file, or the sample service's fault switches), runs the gates",
        "in one pytest process per group and checks that the gate named fails with a message",
        "holding the words shown, and that no blocker gate outside the group's faults fails. The",
        "healthy deployment of each example fails no gate, `DEPLOY_GATES_FLAKE_RUNS` runs in a",
        "row (default 1).",
        "",
        f"{len(rows)} faults in {len(GROUPS)} runs.",
        "",
        "| # | fault | system | gate | message holds | injected by | run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for number, (group, fault) in enumerate(rows, 1):
        how = (f"switch {', '.join(group.switches)}" if group.switches
               else ", ".join(dict.fromkeys(name for name, _, _ in group.edits)) or "environment")
        if group.fake_tools:
            how = "an old kubectl first on PATH"
        lines.append(
            f"| {number} | {_cell(fault.name)} | {SYSTEMS[group.example]} | `{_cell(fault.gate)}` | "
            f"{_cell(fault.message)} | {_cell(how)} | {group.name} ({group.target}) |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
