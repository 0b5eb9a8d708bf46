"""Apply pending migrations under the migration lock: ``plan`` and ``up``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import psycopg
from psycopg.pq import TransactionStatus

from deploy_gates.migrate.checks import select_pending
from deploy_gates.migrate.db import session
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.execute import (
    StatementError,
    Watcher,
    elapsed_ms,
    left_behind,
    run_statements,
)
from deploy_gates.migrate.ledger import DEFAULT_SETTINGS, LedgerTable, layout_of, locate
from deploy_gates.migrate.lock import migration_lock, set_lock_timeout
from deploy_gates.migrate.log import FileEvent, MigrationLog, Reporter
from deploy_gates.migrate.migration import Migration
from deploy_gates.migrate.psql import executor_for
from deploy_gates.migrate.statements import TRANSACTION_CONTROL
from deploy_gates.redact import redact_dsn
from deploy_gates.spec.runbook import Ledger, Migrations


@dataclass(frozen=True)
class AppliedMigration:
    """A migration ``up`` applied and how long its statements took."""

    name: str
    execution_ms: int


def _directory_of(files: list[Migration]) -> str:
    """The directory the files came from, for logs."""
    return ", ".join(sorted({str(f.path.parent) for f in files})) or "(no files)"


def run_options(settings: Migrations | None) -> dict[str, object]:
    """``up``'s executor options as the spec's migrations section gives them."""
    if settings is None:
        return {}
    return {"executor": settings.executor, "single_transaction": settings.single_transaction}


def plan(
    dsn: str,
    files: list[Migration],
    *,
    through: str | None = None,
    ledger: Ledger = DEFAULT_SETTINGS,
    allow_out_of_order: bool = False,
) -> list[Migration]:
    """The files ``up`` would apply now, after the same safety checks; changes nothing."""
    with session(dsn) as conn:
        table = locate(conn, ledger, layout_of(files))
        found = table.read(conn, files)
    return select_pending(
        files, found.rows if found else [], ledger=str(table), through=through,
        allow_out_of_order=allow_out_of_order,
    )


def _apply(
    conn: psycopg.Connection, table: LedgerTable, migration: Migration, watcher: Watcher | None
) -> int:
    """Run ``migration`` and record it; return its execution time in ms."""
    statements = migration.statements()
    # a script with its own BEGIN/COMMIT is not watched: a watch reads between statements
    own = any(TRANSACTION_CONTROL.match(s.text) for s in statements)
    watch = watcher(conn, migration) if watcher and not own else None
    started = table.start(conn, migration)
    start = time.monotonic()
    if migration.transactional:
        try:
            with conn.transaction():
                run_statements(conn, migration.up.label, statements, watch)
                elapsed = elapsed_ms(start)
                table.finish(conn, migration, elapsed, started)
        except StatementError as exc:
            ledger = (f"recorded as failed in {table}, as {table.format} does: inspect it, then "
                      "clear that ledger entry to retry" if started else "ledger unchanged")
            raise MigrationError(f"{exc}; nothing from this file was applied, {ledger}") from exc
        if watch:
            watch.done()
        return elapsed
    from deploy_gates.verify.catalog import read_catalog

    before = read_catalog(conn).fingerprint()
    try:
        run_statements(conn, migration.up.label, statements, watch)
    except StatementError as exc:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        ledger = (
            f"recorded as failed in {table}: inspect the database, then delete that ledger row "
            "to retry" if started
            else f"the {table.format} ledger {table} cannot record a failed run: it stays pending"
        )
        raise MigrationError(
            f"{exc}; not in one transaction: {exc.index} statement(s) before it stay applied, "
            f"{left_behind(before, conn)}; {ledger}"
        ) from exc
    elapsed = elapsed_ms(start)
    if watch:
        watch.done()
    table.finish(conn, migration, elapsed, started)
    return elapsed


def up(
    dsn: str,
    files: list[Migration],
    *,
    through: str | None = None,
    ledger: Ledger = DEFAULT_SETTINGS,
    allow_out_of_order: bool = False,
    lock_timeout_s: float = 60,
    log: MigrationLog | None = None,
    echo: Callable[[str], None] | None = None,
    executor: str = "builtin",
    single_transaction: bool = True,
    databases: Mapping[str, str] | None = None,
    watcher: Watcher | None = None,
) -> list[AppliedMigration]:
    """Apply pending migrations in order (up to and including ``through``); return what was
    applied. ``executor="psql"`` runs each script through psql, in one transaction with its
    ledger entry unless ``single_transaction`` is false; a ``\\c name`` may name one of the
    ``databases`` (name -> DSN). ``watcher`` makes a watch of each migration the built-in
    executor runs, told of each statement as it runs (see FileWatch); psql runs are not
    watched."""
    psql = executor_for(dsn, executor, single_transaction, databases, lock_timeout_s)
    report = Reporter(log, echo)
    report.record(f"run start: up on {redact_dsn(dsn)} from {_directory_of(files)}")
    applied: list[AppliedMigration] = []
    try:
        with session(dsn) as conn:
            table = locate(conn, ledger, layout_of(files))
            with migration_lock(
                conn, str(table), timeout_s=lock_timeout_s, progress=report.progress
            ):
                set_lock_timeout(conn, lock_timeout_s)
                table.ensure(conn)
                found = table.read(conn, files)
                pending = select_pending(
                    files, found.rows if found else [], ledger=str(table), through=through,
                    allow_out_of_order=allow_out_of_order,
                )
                for file in pending:
                    try:
                        elapsed = (psql.run(conn, table, file) if psql
                                   else _apply(conn, table, file, watcher))
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
