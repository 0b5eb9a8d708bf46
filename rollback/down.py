"""Roll back applied migrations with their down scripts, newest first."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    targets: list[Migration], down_dir: Path | None
) -> list[tuple[Migration, Script, list[Statement]]]:
    """Each target with its down script and statements; refuse if any script is missing."""
    found = [(m, down_script(m, down_dir)) for m in targets]
    missing = [m.name if down_dir is None or m.layout != "numbered" else str(down_dir / m.name)
               for m, script in found if script is None]
    if missing:
        raise MigrationError(
            f"missing down script(s) {', '.join(missing)}; nothing was rolled back"
        )
    return [(m, script, script.statements(transactional=not manages_transactions(script.text)))
            for m, script in found]


def _show(report: Reporter, script: Script, statements: list[Statement]) -> None:
    """Show a down script's statements instead of running them."""
    where = f"{script.path} from line {script.line}" if script.line > 1 else str(script.path)
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
    report: Reporter,
    watch: FileWatch | None,
) -> None:
    """Run one down script and record the rollback in the ledger, in one transaction."""
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
            report.progress(str(FileEvent("reverting", name, False)))
            raise MigrationError(
                f"{exc}; the down script runs outside one transaction: {exc.index} statement(s) "
                f"before it stay applied; {name} stays applied (ledger unchanged)"
            ) from exc
        report.progress(str(FileEvent("reverting", name, False)))
        raise MigrationError(
            f"{exc}; down script rolled back, {name} stays applied (ledger unchanged)"
        ) from exc
    if watch:
        watch.done()
    report.progress(str(FileEvent("reverting", name, True, elapsed_ms(start))))


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
    watcher: Watcher | None = None,
) -> list[str]:
    """Revert every applied migration after ``to``, newest first; return their names.

    With ``dry_run`` only show each down script and its statements; nothing changes.
    ``watcher`` makes a watch of each down script (given its migration), told of each
    statement as it runs.
    """
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
                for m, script, statements in _scripts(_targets(files, rows, to), down_dir):
                    if dry_run:
                        _show(report, script, statements)
                    else:
                        watch = watcher(conn, m) if watcher else None
                        _revert(conn, table, m, files, script, statements, report, watch)
                    reverted.append(m.name)
    except MigrationError as exc:
        report.record(f"failed: {exc}")
        report.record(f"run end: failed after {len(reverted)} rolled back")
        raise
    report.record(f"run end: ok, {len(reverted)} {'would be ' if dry_run else ''}rolled back")
    return reverted
