"""Apply pending migrations under the migration lock: ``plan`` and ``up``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from deploy_gates.migrate.checks import select_pending
from deploy_gates.migrate.db import session
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.execute import StatementError, Watcher, elapsed_ms, run_statements
from deploy_gates.migrate.files import MigrationFile
from deploy_gates.migrate.ledger import (
    DEFAULT_SETTINGS,
    LedgerTable,
    ensure,
    locate,
    mark_succeeded,
    read,
    record,
)
from deploy_gates.migrate.lock import migration_lock, set_lock_timeout
from deploy_gates.migrate.log import FileEvent, MigrationLog, Reporter
from deploy_gates.redact import redact_dsn
from deploy_gates.spec.runbook import Ledger


@dataclass(frozen=True)
class AppliedMigration:
    """A migration ``up`` applied and how long its statements took."""

    name: str
    execution_ms: int


def _directory_of(files: list[MigrationFile]) -> str:
    """The directory the files came from, for logs."""
    return ", ".join(sorted({str(f.path.parent) for f in files})) or "(no files)"


def plan(
    dsn: str,
    files: list[MigrationFile],
    *,
    through: str | None = None,
    ledger: Ledger = DEFAULT_SETTINGS,
    allow_out_of_order: bool = False,
) -> list[MigrationFile]:
    """The files ``up`` would apply now, after the same safety checks; changes nothing."""
    with session(dsn) as conn:
        table = locate(conn, ledger)
        rows = read(conn, table, full=True)
    return select_pending(
        files, rows, ledger=str(table), through=through, allow_out_of_order=allow_out_of_order
    )


def _apply(
    conn: psycopg.Connection, table: LedgerTable, file: MigrationFile, watcher: Watcher | None
) -> int:
    """Run ``file`` and record it; return its execution time in ms."""
    statements = file.statements()
    watch = watcher(conn, file) if watcher else None
    start = time.monotonic()
    if file.transactional:
        try:
            with conn.transaction():
                run_statements(conn, file.name, statements, watch)
                elapsed = elapsed_ms(start)
                record(conn, table, file, success=True, execution_ms=elapsed)
        except StatementError as exc:
            raise MigrationError(
                f"{exc}; nothing from this file was applied, ledger unchanged"
            ) from exc
        if watch:
            watch.done()
        return elapsed
    record(conn, table, file, success=False, execution_ms=None)
    try:
        run_statements(conn, file.name, statements, watch)
    except StatementError as exc:
        before = (
            f"the {exc.index} statement(s) before it stay applied"
            if exc.index
            else "the failed statement may have left partial effects (e.g. an INVALID index)"
        )
        raise MigrationError(
            f"{exc}; no-transaction file: {before}; recorded as failed in {table}: inspect the "
            "database, then delete that ledger row to retry"
        ) from exc
    elapsed = elapsed_ms(start)
    if watch:
        watch.done()
    mark_succeeded(conn, table, file.name, elapsed)
    return elapsed


def up(
    dsn: str,
    files: list[MigrationFile],
    *,
    through: str | None = None,
    ledger: Ledger = DEFAULT_SETTINGS,
    allow_out_of_order: bool = False,
    lock_timeout_s: float = 60,
    log: MigrationLog | None = None,
    echo: Callable[[str], None] | None = None,
    watcher: Watcher | None = None,
) -> list[AppliedMigration]:
    """Apply pending files in order (up to and including ``through``); return what was applied.

    ``watcher`` makes a watch of each file, told of each statement as it runs (see FileWatch).
    """
    report = Reporter(log, echo)
    report.record(f"run start: up on {redact_dsn(dsn)} from {_directory_of(files)}")
    applied: list[AppliedMigration] = []
    try:
        with session(dsn) as conn:
            table = locate(conn, ledger)
            with migration_lock(
                conn, str(table), timeout_s=lock_timeout_s, progress=report.progress
            ):
                set_lock_timeout(conn, lock_timeout_s)
                rows = ensure(conn, table)
                pending = select_pending(
                    files, rows, ledger=str(table), through=through,
                    allow_out_of_order=allow_out_of_order,
                )
                for file in pending:
                    try:
                        elapsed = _apply(conn, table, file, watcher)
                    except MigrationError:
                        report.progress(str(FileEvent("applying", file.name, False)))
                        raise
                    report.progress(str(FileEvent("applying", file.name, True, elapsed)))
                    applied.append(AppliedMigration(file.name, elapsed))
    except MigrationError as exc:
        report.record(f"failed: {exc}")
        report.record(f"run end: failed after {len(applied)} applied")
        raise
    report.record(f"run end: ok, {len(applied)} applied")
    return applied
