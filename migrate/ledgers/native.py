"""deploy-gates' own ledger, ``schema_migrations(version, name, checksum, applied_at,
execution_ms, success)`` with configurable version and success columns; and ``plain``, the
application's own ``schema_migrations(version, applied_at)``. Both record the file name."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.ledger import LedgerRead, LedgerRow, LedgerTable
from deploy_gates.migrate.migration import Migration
from deploy_gates.spec.runbook import Ledger

OPTIONAL = {
    "checksum": sql.SQL("NULL::text"),
    "applied_at": sql.SQL("NULL::timestamptz"),
    "execution_ms": sql.SQL("NULL::integer"),
}


@dataclass(frozen=True)
class NativeTable(LedgerTable):
    """A ledger with one row per applied file; ``plain`` has no success, checksum or timing."""

    version_column: str = "version"
    success_column: str | None = "success"
    plain: bool = False

    @property
    def format(self) -> str:  # type: ignore[override]
        return "plain" if self.plain else "deploy-gates"

    @property
    def full_columns(self) -> tuple[str, ...]:
        """The columns the runner writes."""
        if self.plain:
            return (self.version_column, "applied_at")
        success = (self.success_column,) if self.success_column else ()
        return (self.version_column, "name", "checksum", "applied_at", "execution_ms", *success)

    def select(self, columns: set[str]) -> sql.Composed:
        """Every row as ``LedgerRow`` fields; columns the table lacks read as NULL."""
        optional = [sql.Identifier(c) if c in columns else OPTIONAL[c] for c in OPTIONAL]
        success = self.success_column
        flag = (
            sql.SQL("coalesce({}, true)").format(sql.Identifier(success))
            if success and success in columns and not self.plain
            else sql.SQL("NULL::boolean")
        )
        return sql.SQL("SELECT {}::text, {}, {}, {}, {} FROM {}").format(
            sql.Identifier(self.version_column), *optional, flag, self.ident
        )

    def read(self, conn: psycopg.Connection, migrations: list[Migration]) -> LedgerRead | None:
        columns = self.columns(conn)
        if columns is None:
            return None
        self.require(columns, (self.version_column,))
        query = self.select(columns)
        rows = [LedgerRow(*row) for row in conn.execute(query).fetchall()]
        knows = not self.plain and bool(self.success_column) and self.success_column in columns
        return LedgerRead(rows, query.as_string(conn), knows)

    def ensure(self, conn: psycopg.Connection) -> None:
        self.create_schema(conn)
        version = sql.Identifier(self.version_column)
        if self.plain:
            body = sql.SQL("{} text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now()"
                           ).format(version)
        else:
            success = (
                sql.SQL(", {} boolean NOT NULL DEFAULT true").format(
                    sql.Identifier(self.success_column))
                if self.success_column
                else sql.SQL("")
            )
            body = sql.SQL(
                "{} text PRIMARY KEY, name text, checksum text,"
                " applied_at timestamptz NOT NULL DEFAULT now(), execution_ms integer{}"
            ).format(version, success)
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(self.ident, body))
        hint = "" if self.plain else "; or set migrations.ledger.format: plain to keep its shape"
        self.require(self.columns(conn) or set(), self.full_columns, hint)

    def _insert(self, conn: psycopg.Connection, values: dict[str, object]) -> None:
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                self.ident,
                sql.SQL(", ").join(map(sql.Identifier, values)),
                sql.SQL(", ").join([sql.Placeholder()] * len(values)),
            ),
            list(values.values()),
        )

    def _values(self, migration: Migration, execution_ms: int | None) -> dict[str, object]:
        if self.plain:
            return {self.version_column: migration.id}
        return {self.version_column: migration.id, "name": migration.description,
                "checksum": migration.checksum, "execution_ms": execution_ms}

    def start(self, conn: psycopg.Connection, migration: Migration) -> bool:
        if migration.transactional or self.plain:
            return False
        if not self.success_column:
            raise MigrationError(
                f"{migration.name} runs outside a transaction, and the ledger {self} has no "
                "success column to record it as running; set migrations.ledger.success_column"
            )
        self._insert(conn, {**self._values(migration, None), self.success_column: False})
        return True

    def finish(
        self, conn: psycopg.Connection, migration: Migration, execution_ms: int, started: bool
    ) -> None:
        if not started:
            values = self._values(migration, execution_ms)
            if self.success_column and not self.plain:
                values[self.success_column] = True
            self._insert(conn, values)
            return
        conn.execute(
            sql.SQL(
                "UPDATE {} SET {} = true, execution_ms = %s, applied_at = now() WHERE {} = %s"
            ).format(self.ident, sql.Identifier(self.success_column),
                     sql.Identifier(self.version_column)),
            (execution_ms, migration.id),
        )

    def remove(
        self, conn: psycopg.Connection, migration: Migration, migrations: list[Migration]
    ) -> None:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                self.ident, sql.Identifier(self.version_column)
            ),
            (migration.id,),
        )


def table(kind: str, schema: str, name: str, settings: Ledger) -> NativeTable:
    return NativeTable(schema, name, settings.version_column,
                       None if kind == "plain" else settings.success_column, kind == "plain")
