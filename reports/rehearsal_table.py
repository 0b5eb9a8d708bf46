"""The rehearsal's table per release migration, from the structured evidence its lock gates
record under ``MIGRATION_EVIDENCE`` (a JSON object per migration; fields in docs/rehearsal.md)."""

from __future__ import annotations

import html
import json

from deploy_gates.verdict import GateRecord

MIGRATION_EVIDENCE = "rehearsal: migration (JSON)"
"""The evidence title of a migration's row: ``{"migration", "stairs": {"up", "down", "reapply"},
"locks": [{"table", "mode", "line", "held_ms", "rewrite", "flagged"}], "rewrite", "ms", "rows",
"data_preserved"}``."""


def migration_rows(records: list[GateRecord]) -> list[dict]:
    """Every migration row the run's gates recorded, in the order they ran."""
    return [
        json.loads(entry["text"])
        for record in records
        for entry in record.evidence
        if entry["title"] == MIGRATION_EVIDENCE
    ]


def migration_table(rows: list[dict]) -> str:
    """The rows as an HTML table; empty when there are none."""
    if not rows:
        return ""

    def cell(value: object) -> str:
        return f"<td>{html.escape(str(value))}</td>"

    def yes_no(value: bool | None) -> str:
        return {True: "yes", False: "no", None: "not checked"}[value]

    body = "".join(
        "<tr>" + cell(row["migration"])
        + "".join(cell(row["stairs"][step]) for step in ("up", "down", "reapply"))
        + cell("; ".join(f"{lock['mode']} on {lock['table']}" + (" (flagged)" if lock["flagged"]
                                                                  else "")
                         for lock in row["locks"]) or "none on baseline tables")
        + cell(yes_no(row["rewrite"])) + cell(f"{row['ms']:.1f} ms at {row['rows']} rows")
        + cell(yes_no(row["data_preserved"])) + "</tr>"
        for row in rows
    )
    return (
        "<h3>Rehearsal per migration</h3><table><tr><th>migration</th><th>stair up</th>"
        "<th>stair down</th><th>stair re-apply</th><th>locks on baseline tables</th>"
        f"<th>rewrite</th><th>time</th><th>data preserved</th></tr>{body}</table>"
    )
