"""Roll back applied migrations with their down scripts, newest first."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path
from textwrap import indent

import psycopg
from psycopg.pq import TransactionStatus

from deploy_gates.migrate.checks import check_consistency, position
from deploy_gates.migrate.db import session
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.execute import (
    FileWatch,
    StatementError,
    Watcher,
    elapsed_ms,
    run_statements,
)
from deploy_gates.migrate.ledger import DEFAULT_SETTINGS, LedgerRow, LedgerTable, layout_of, locate
from deploy_gates.migrate.lock import migration_lock, set_lock_timeout
from deploy_gates.migrate.log import FileEvent, MigrationLog, Reporter
from deploy_gates.migrate.migration import Migration, Script, down_script
from deploy_gates.migrate.psql import executor_for
from deploy_gates.migrate.statements import Statement, manages_transactions
from deploy_gates.redact import redact_dsn
from deploy_gates.spec.runbook import Ledger


def _targets(files: list[Migration], rows: list[LedgerRow], to: str | None) -> list[Migration]:
    """Applied migrations after ``to`` (all when None), newest first; repeatable ones stay."""
    keep = -1 if to is None else position(files, to, "--to")
    applied = {r.version for r in rows}
    return [m for i, m in enumerate(files)
            if i > keep and m.id in applied and not m.repeatable][::-1]


def _scripts(
    targets: list[Migration], down_dir: Path | None, psql: bool
) -> list[tuple[Migration, Script, list[Statement] | None]]:
    """Each target with its down script and statements (None when psql runs the script);
    refuse if any script is missing."""
    found = [(m, down_script(m, down_dir)) for m in targets]
    missing = [m.name if down_dir is None or m.layout != "numbered" else str(down_dir / m.name)
               for m, script in found if script is None]
    if missing:
        raise MigrationError(
            f"missing down script(s) {', '.join(missing)}; nothing was rolled back"
        )
    return [(m, script, None if psql
             else script.statements(transactional=not manages_transactions(script.text)))
            for m, script in found]


def _show(report: Reporter, script: Script, statements: list[Statement] | None) -> None:
    """Show a down script's statements (psql's: the script) instead of running them."""
    where = f"{script.path} from line {script.line}" if script.line > 1 else str(script.path)
    if statements is None:
        report.progress(f"would run {where} with psql")
        report.show(indent(script.text, "  "))
        return
    report.progress(f"would run {where} ({len(statements)} statement(s))")
    for statement in statements:
        report.show(f"  -- line {statement.line}\n{indent(statement.text, '  ')}")


def _revert(
    conn: psycopg.Connection,
    table: LedgerTable,
    migration: Migration,
    files: list[Migration],
    script: Script,
    statements: list[Statement],
    watch: FileWatch | None,
) -> int:
    """Run one down script and record the rollback in the ledger, in one transaction; its
    execution time in ms."""
    name = migration.name
    start = time.monotonic()
    own = manages_transactions(script.text)
    try:
        with nullcontext() if own else conn.transaction():
            run_statements(conn, str(script.path), statements, watch)
            table.remove(conn, migration, files)
    except StatementError as exc:
        if own:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            raise MigrationError(
                f"{exc}; the down script runs outside one transaction: {exc.index} statement(s) "
                f"before it stay applied; {name} stays applied (ledger unchanged)"
            ) from exc
        raise MigrationError(
            f"{exc}; down script rolled back, {name} stays applied (ledger unchanged)"
        ) from exc
    if watch:
        watch.done()
    return elapsed_ms(start)


def down(
    dsn: str,
    files: list[Migration],
    down_dir: Path | None,
    *,
    to: str | None = None,
    ledger: Ledger = DEFAULT_SETTINGS,
    dry_run: bool = False,
    lock_timeout_s: float = 60,
    log: MigrationLog | None = None,
    echo: Callable[[str], None] | None = None,
    executor: str = "builtin",
    single_transaction: bool = True,
    databases: Mapping[str, str] | None = None,
    watcher: Watcher | None = None,
) -> list[str]:
    """Revert every applied migration after ``to``, newest first; return their names.

    With ``dry_run`` only show each down script and its statements; nothing changes. The
    scripts run as ``up`` runs them: ``executor="psql"`` (with ``single_transaction`` and the
    ``databases`` a ``\\c`` may name) through psql. ``watcher`` makes a watch of each down script
    the built-in executor runs (given its migration), told of each statement as it runs.
    """
    psql = executor_for(dsn, executor, single_transaction, databases, lock_timeout_s)
    report = Reporter(log, echo)
    mode = "down (dry run)" if dry_run else "down"
    source = down_dir or (files[0].path.parent if files else "(no migrations)")
    report.record(f"run start: {mode} on {redact_dsn(dsn)} from {source}")
    reverted: list[str] = []
    try:
        with session(dsn) as conn:
            table = locate(conn, ledger, layout_of(files))
            lock = nullcontext() if dry_run else migration_lock(
                conn, str(table), timeout_s=lock_timeout_s, progress=report.progress
            )
            with lock:
                set_lock_timeout(conn, lock_timeout_s)
                found = table.read(conn, files)
                rows = found.rows if found else []
                check_consistency(files, rows, str(table))
                targets = _scripts(_targets(files, rows, to), down_dir, psql is not None)
                for m, script, statements in targets:
                    if dry_run:
                        _show(report, script, statements)
                        reverted.append(m.name)
                        continue
                    try:
                        elapsed = (psql.revert(conn, table, m, script, files) if psql else
                                   _revert(conn, table, m, files, script, statements,
                                           watcher(conn, m) if watcher else None))
                    except MigrationError:
                        report.progress(str(FileEvent("reverting", m.name, False)))
                        raise
                    report.progress(str(FileEvent("reverting", m.name, True, elapsed)))
                    reverted.append(m.name)
    except MigrationError as exc:
        report.record(f"failed: {exc}")
        report.record(f"run end: failed after {len(reverted)} rolled back")
        raise
    report.record(f"run end: ok, {len(reverted)} {'would be ' if dry_run else ''}rolled back")
    return reverted
