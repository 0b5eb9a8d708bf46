"""What the ledger says about each migration file, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from deploy_gates.migrate.db import session
from deploy_gates.migrate.files import MigrationFile, order_key
from deploy_gates.migrate.ledger import DEFAULT_SETTINGS, LedgerRow, locate, read
from deploy_gates.spec.runbook import Ledger


@dataclass(frozen=True)
class StatusEntry:
    """One migration: ``state`` is applied, pending, failed, missing or drifted."""

    name: str
    state: str
    applied_at: datetime | None
    execution_ms: int | None


def entries(files: list[MigrationFile], rows: list[LedgerRow]) -> list[StatusEntry]:
    """The state of every file and of every ledger row without a file, in version order."""
    by_row = {r.version: r for r in rows}
    result = []
    for file in files:
        row = by_row.pop(file.name, None)
        if row is None:
            result.append(StatusEntry(file.name, "pending", None, None))
            continue
        if not row.success:
            state = "failed"
        elif row.checksum and row.checksum != file.checksum:
            state = "drifted"
        else:
            state = "applied"
        result.append(StatusEntry(file.name, state, row.applied_at, row.execution_ms))
    result += [
        StatusEntry(r.version, "missing", r.applied_at, r.execution_ms) for r in by_row.values()
    ]
    return sorted(result, key=lambda e: order_key(e.name))


def status(
    dsn: str, files: list[MigrationFile], *, ledger: Ledger = DEFAULT_SETTINGS
) -> list[StatusEntry]:
    """The state of each migration on ``dsn``; a missing ledger means everything is pending."""
    with session(dsn) as conn:
        rows = read(conn, locate(conn, ledger))
    return entries(files, rows)


def status_problem(rows: list[StatusEntry]) -> str | None:
    """What makes the ledger and the files disagree (``up`` would refuse it), or None: checksum
    drift, failed runs, applied files that are gone. Pending files are no problem."""
    names = {state: [e.name for e in rows if e.state == state]
             for state in ("drifted", "failed", "missing")}
    problems = [
        text.format(", ".join(names[state]))
        for state, text in (
            ("drifted", "checksum drift: {} changed since it was applied; restore the applied "
             "content and put changes in a new migration"),
            ("failed", "{} failed in an earlier run and may be partly applied"),
            ("missing", "{} applied but missing from the migrations directory"),
        )
        if names[state]
    ]
    return "; ".join(problems) or None
