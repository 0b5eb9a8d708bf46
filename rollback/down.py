"""Roll back applied migrations with their down scripts, newest first."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from textwrap import indent

import psycopg

from deploy_gates.migrate.checks import check_consistency
from deploy_gates.migrate.db import session
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.execute import (
    FileWatch,
    StatementError,
    Watcher,
    elapsed_ms,
    run_statements,
)
from deploy_gates.migrate.files import MigrationFile, order_key
from deploy_gates.migrate.ledger import (
    DEFAULT_SETTINGS,
    LedgerRow,
    LedgerTable,
    delete,
    locate,
    read,
)
from deploy_gates.migrate.lock import migration_lock, set_lock_timeout
from deploy_gates.migrate.log import FileEvent, MigrationLog, Reporter
from deploy_gates.migrate.statements import Statement, read_statements
from deploy_gates.redact import redact_dsn
from deploy_gates.spec.runbook import Ledger


def _targets(files: list[MigrationFile], rows: list[LedgerRow], to: str | None) -> list[str]:
    """Applied migrations after ``to`` (all when None), newest first."""
    if to is not None and to not in {f.name for f in files}:
        raise MigrationError(f"--to {to}: no such migration file")
    names = [r.version for r in rows if to is None or order_key(r.version) > order_key(to)]
    return sorted(names, key=order_key, reverse=True)


def _scripts(names: list[str], down_dir: Path) -> list[tuple[str, Path, list[Statement]]]:
    """Each target with its down script and statements; refuse if any script is missing."""
    missing = [str(down_dir / name) for name in names if not (down_dir / name).is_file()]
    if missing:
        raise MigrationError(
            f"missing down script(s) {', '.join(missing)}; nothing was rolled back"
        )
    return [
        (name, down_dir / name, read_statements(down_dir / name, transactional=True))
        for name in names
    ]


def _show(report: Reporter, path: Path, statements: list[Statement]) -> None:
    """Show a down script's statements instead of running them."""
    report.progress(f"would run {path} ({len(statements)} statement(s))")
    for statement in statements:
        report.show(f"  -- line {statement.line}\n{indent(statement.text, '  ')}")


def _revert(
    conn: psycopg.Connection,
    table: LedgerTable,
    name: str,
    path: Path,
    statements: list[Statement],
    report: Reporter,
    watch: FileWatch | None,
) -> None:
    """Run one down script and delete its ledger row in one transaction."""
    start = time.monotonic()
    try:
        with conn.transaction():
            run_statements(conn, str(path), statements, watch)
            delete(conn, table, name)
    except StatementError as exc:
        report.progress(str(FileEvent("reverting", name, False)))
        raise MigrationError(
            f"{exc}; down script rolled back, {name} stays applied (ledger unchanged)"
        ) from exc
    if watch:
        watch.done()
    report.progress(str(FileEvent("reverting", name, True, elapsed_ms(start))))


def down(
    dsn: str,
    files: list[MigrationFile],
    down_dir: Path,
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
    ``watcher`` makes a watch of each down script (given its migration's file), told of each
    statement as it runs.
    """
    report = Reporter(log, echo)
    mode = "down (dry run)" if dry_run else "down"
    report.record(f"run start: {mode} on {redact_dsn(dsn)} from {down_dir}")
    reverted: list[str] = []
    try:
        with session(dsn) as conn:
            table = locate(conn, ledger)
            lock = nullcontext() if dry_run else migration_lock(
                conn, str(table), timeout_s=lock_timeout_s, progress=report.progress
            )
            with lock:
                set_lock_timeout(conn, lock_timeout_s)
                rows = read(conn, table)
                check_consistency(files, rows, str(table))
                by_name = {f.name: f for f in files}
                for name, path, statements in _scripts(_targets(files, rows, to), down_dir):
                    if dry_run:
                        _show(report, path, statements)
                    else:
                        watch = watcher(conn, by_name[name]) if watcher else None
                        _revert(conn, table, name, path, statements, report, watch)
                    reverted.append(name)
    except MigrationError as exc:
        report.record(f"failed: {exc}")
        report.record(f"run end: failed after {len(reverted)} rolled back")
        raise
    report.record(f"run end: ok, {len(reverted)} {'would be ' if dry_run else ''}rolled back")
    return reverted
