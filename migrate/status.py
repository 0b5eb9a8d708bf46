"""What the ledger says about each migration, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from deploy_gates.migrate.db import session
from deploy_gates.migrate.ledger import DEFAULT_SETTINGS, LedgerRow, layout_of, locate
from deploy_gates.migrate.migration import Migration, natural_key
from deploy_gates.spec.runbook import Ledger


@dataclass(frozen=True)
class StatusEntry:
    """One migration: ``state`` is applied, pending, failed, missing, drifted or (a repeatable
    one whose script changed) outdated."""

    name: str
    state: str
    applied_at: datetime | None
    execution_ms: int | None


def _state(migration: Migration, row: LedgerRow) -> str:
    if row.success is False:
        return "failed"
    if row.checksum and migration.checksum and row.checksum != migration.checksum:
        return "outdated" if migration.repeatable else "drifted"
    return "applied"


def entries(migrations: list[Migration], rows: list[LedgerRow]) -> list[StatusEntry]:
    """The state of every migration in apply order, each ledger row without a migration placed
    before the first migration whose id sorts after its own."""
    by_row = {r.version: r for r in rows}
    result = []
    for m in migrations:
        row = by_row.pop(m.id, None)
        if row is None:
            result.append((m.id, StatusEntry(m.name, "pending", None, None)))
        else:
            entry = StatusEntry(m.name, _state(m, row), row.applied_at, row.execution_ms)
            result.append((m.id, entry))
    for row in sorted(by_row.values(), key=lambda r: natural_key(r.version)):
        at = next((i for i, (ident, _) in enumerate(result)
                   if natural_key(ident) > natural_key(row.version)), len(result))
        entry = StatusEntry(row.version, "missing", row.applied_at, row.execution_ms)
        result.insert(at, (row.version, entry))
    return [entry for _, entry in result]


def status(
    dsn: str, migrations: list[Migration], *, ledger: Ledger = DEFAULT_SETTINGS
) -> list[StatusEntry]:
    """The state of each migration on ``dsn``; a missing ledger means everything is pending."""
    with session(dsn) as conn:
        found = locate(conn, ledger, layout_of(migrations)).read(conn, migrations)
    return entries(migrations, found.rows if found else [])


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
