"""The ledger table that records which migration files a database has applied; the runner, the
rollback and the ledger gates all read the spec's ledger settings through ``locate``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.files import MigrationFile
from deploy_gates.spec.runbook import Ledger

DEFAULTS = {
    "checksum": sql.SQL("NULL::text"),
    "applied_at": sql.SQL("NULL::timestamptz"),
    "execution_ms": sql.SQL("NULL::integer"),
}
DEFAULT_SETTINGS = Ledger()
"""``schema_migrations`` in the default schema, with ``version`` and ``success`` columns."""


@dataclass(frozen=True)
class LedgerRow:
    """One applied (or failed) migration; ``checksum`` (and, in a ledger the runner did not
    create, ``applied_at``) is None when the ledger does not know it."""

    version: str
    checksum: str | None
    applied_at: datetime | None
    execution_ms: int | None
    success: bool


@dataclass(frozen=True)
class LedgerTable:
    """The ledger table of a database, as the runner and the gates both read it: where it is and
    which columns hold the version (the file name) and the success flag."""

    schema: str
    name: str
    version_column: str = "version"
    success_column: str | None = "success"

    @property
    def ident(self) -> sql.Identifier:
        """The schema-qualified identifier (stable even if a migration changes search_path)."""
        return sql.Identifier(self.schema, self.name)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """The columns the runner reads."""
        return (self.version_column, "applied_at")

    @property
    def full_columns(self) -> tuple[str, ...]:
        """The columns the runner writes."""
        success = (self.success_column,) if self.success_column else ()
        return (self.version_column, "name", "checksum", "applied_at", "execution_ms", *success)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


def locate(conn: psycopg.Connection, settings: Ledger) -> LedgerTable:
    """The ledger table ``settings`` name: ``schema.name`` as written, a bare name in the first
    existing schema of the connection's search_path."""
    schema, _, name = settings.table.rpartition(".")
    if not schema:
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
        if schema is None:
            raise MigrationError(
                f"no default schema for ledger {settings.table}: search_path names none"
            )
    return LedgerTable(schema, name, settings.version_column, settings.success_column)


def _columns(conn: psycopg.Connection, table: LedgerTable) -> set[str] | None:
    """The ledger's column names; None when the table does not exist."""
    regclass = conn.execute("SELECT to_regclass(%s)", (table.ident.as_string(conn),)).fetchone()[0]
    if regclass is None:
        return None
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s)"
        " AND attnum > 0 AND NOT attisdropped",
        (table.ident.as_string(conn),),
    ).fetchall()
    return {row[0] for row in rows}


def select_rows(table: LedgerTable, columns: set[str]) -> sql.Composed:
    """The query of every ledger row, as ``LedgerRow`` fields, from a table with ``columns``
    (which holds the version column): the optional columns it lacks read as NULL, and a missing
    success flag as true."""
    optional = [
        sql.Identifier(name) if name in columns else DEFAULTS[name]
        for name in ("checksum", "applied_at", "execution_ms")
    ]
    success = table.success_column
    flag = (
        sql.SQL("coalesce({}, true)").format(sql.Identifier(success))
        if success and success in columns
        else sql.SQL("true")
    )
    return sql.SQL("SELECT {}::text, {}, {}, {}, {} FROM {}").format(
        sql.Identifier(table.version_column), *optional, flag, table.ident
    )


def read(
    conn: psycopg.Connection, table: LedgerTable, *, full: bool = False
) -> list[LedgerRow]:
    """The ledger rows (none when the table is missing); refuse a table that lacks the columns
    the runner reads (with ``full``, every column it writes)."""
    columns = _columns(conn, table)
    if columns is None:
        return []
    require = table.full_columns if full else table.required_columns
    missing = [name for name in require if name not in columns]
    if missing:
        raise MigrationError(
            f"ledger table {table} exists but lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(require)}"
        )
    return [LedgerRow(*row) for row in conn.execute(select_rows(table, columns)).fetchall()]


def ensure(conn: psycopg.Connection, table: LedgerTable) -> list[LedgerRow]:
    """Create the ledger (and its schema) if missing, then its rows; an existing one must have
    every column."""
    if conn.execute("SELECT to_regnamespace(%s)", (sql.Identifier(table.schema).as_string(conn),)
                    ).fetchone()[0] is None:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema)))
    success = (
        sql.SQL(", {} boolean NOT NULL DEFAULT true").format(sql.Identifier(table.success_column))
        if table.success_column
        else sql.SQL("")
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ({} text PRIMARY KEY, name text, checksum text,"
            " applied_at timestamptz NOT NULL DEFAULT now(), execution_ms integer{})"
        ).format(table.ident, sql.Identifier(table.version_column), success)
    )
    return read(conn, table, full=True)


def record(
    conn: psycopg.Connection,
    table: LedgerTable,
    file: MigrationFile,
    *,
    success: bool,
    execution_ms: int | None,
) -> None:
    """Insert the ledger row of ``file``; a failed (provisional) row needs a success column."""
    values = {
        table.version_column: file.name,
        "name": file.description,
        "checksum": file.checksum,
        "execution_ms": execution_ms,
    }
    if table.success_column:
        values[table.success_column] = success
    elif not success:
        raise MigrationError(
            f"{file.name} runs outside a transaction, and the ledger {table} has no success "
            "column to record it as running; set migrations.ledger.success_column"
        )
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            table.ident,
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join([sql.Placeholder()] * len(values)),
        ),
        list(values.values()),
    )


def mark_succeeded(
    conn: psycopg.Connection, table: LedgerTable, name: str, execution_ms: int
) -> None:
    """Turn the provisional failed row of ``name`` into a successful one."""
    conn.execute(
        sql.SQL(
            "UPDATE {} SET {} = true, execution_ms = %s, applied_at = now() WHERE {} = %s"
        ).format(table.ident, sql.Identifier(table.success_column),
                 sql.Identifier(table.version_column)),
        (execution_ms, name),
    )


def delete(conn: psycopg.Connection, table: LedgerTable, name: str) -> None:
    """Remove the row of ``name`` (its migration was rolled back)."""
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} = %s").format(
            table.ident, sql.Identifier(table.version_column)
        ),
        (name,),
    )
