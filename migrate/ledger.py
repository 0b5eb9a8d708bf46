"""The ledger table that records which migration files a database has applied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.files import MigrationFile

REQUIRED_COLUMNS = ("version", "applied_at")
FULL_COLUMNS = ("version", "name", "checksum", "applied_at", "execution_ms", "success")
DEFAULTS = {
    "name": sql.SQL("NULL::text"),
    "checksum": sql.SQL("NULL::text"),
    "execution_ms": sql.SQL("NULL::integer"),
    "success": sql.SQL("true"),
}


@dataclass(frozen=True)
class LedgerRow:
    """One applied (or failed) migration; ``checksum`` is None when the ledger does not know it."""

    version: str
    checksum: str | None
    applied_at: datetime
    execution_ms: int | None
    success: bool


@dataclass(frozen=True)
class Ledger:
    """The ledger table in the connection's default schema."""

    schema: str
    table: str

    @property
    def ident(self) -> sql.Identifier:
        """The schema-qualified identifier (stable even if a migration changes search_path)."""
        return sql.Identifier(self.schema, self.table)

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


def locate(conn: psycopg.Connection, table: str) -> Ledger:
    """The ledger ``table`` in the first existing schema of the search_path."""
    schema = conn.execute("SELECT current_schema()").fetchone()[0]
    if schema is None:
        raise MigrationError(f"no default schema for ledger {table}: search_path names none")
    return Ledger(schema, table)


def _columns(conn: psycopg.Connection, ledger: Ledger) -> set[str] | None:
    """The ledger's column names; None when the table does not exist."""
    regclass = conn.execute("SELECT to_regclass(%s)", (ledger.ident.as_string(conn),)).fetchone()[0]
    if regclass is None:
        return None
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s)"
        " AND attnum > 0 AND NOT attisdropped",
        (ledger.ident.as_string(conn),),
    ).fetchall()
    return {row[0] for row in rows}


def read(
    conn: psycopg.Connection, ledger: Ledger, *, require: tuple[str, ...] = REQUIRED_COLUMNS
) -> list[LedgerRow]:
    """The ledger rows (none when the table is missing); refuse a table lacking ``require``."""
    columns = _columns(conn, ledger)
    if columns is None:
        return []
    missing = [name for name in require if name not in columns]
    if missing:
        raise MigrationError(
            f"ledger table {ledger} exists but lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(require)}"
        )
    selected = [
        sql.Identifier(name) if name in columns else DEFAULTS[name]
        for name in ("checksum", "execution_ms", "success")
    ]
    query = sql.SQL("SELECT version::text, {}, applied_at, {}, coalesce({}, true) FROM {}").format(
        *selected, ledger.ident
    )
    return [LedgerRow(*row) for row in conn.execute(query).fetchall()]


def ensure(conn: psycopg.Connection, ledger: Ledger) -> list[LedgerRow]:
    """Create the ledger if missing, then its rows; an existing one must have every column."""
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (version text PRIMARY KEY, name text, checksum text,"
            " applied_at timestamptz NOT NULL DEFAULT now(), execution_ms integer,"
            " success boolean NOT NULL DEFAULT true)"
        ).format(ledger.ident)
    )
    return read(conn, ledger, require=FULL_COLUMNS)


def record(
    conn: psycopg.Connection,
    ledger: Ledger,
    file: MigrationFile,
    *,
    success: bool,
    execution_ms: int | None,
) -> None:
    """Insert the ledger row of ``file``."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (version, name, checksum, execution_ms, success)"
            " VALUES (%s, %s, %s, %s, %s)"
        ).format(ledger.ident),
        (file.name, file.description, file.checksum, execution_ms, success),
    )


def mark_succeeded(conn: psycopg.Connection, ledger: Ledger, name: str, execution_ms: int) -> None:
    """Turn the provisional failed row of ``name`` into a successful one."""
    conn.execute(
        sql.SQL(
            "UPDATE {} SET success = true, execution_ms = %s, applied_at = now() WHERE version = %s"
        ).format(ledger.ident),
        (execution_ms, name),
    )


def delete(conn: psycopg.Connection, ledger: Ledger, name: str) -> None:
    """Remove the row of ``name`` (its migration was rolled back)."""
    conn.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(ledger.ident), (name,))
