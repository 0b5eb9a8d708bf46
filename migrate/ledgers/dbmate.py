"""dbmate's ledger: ``schema_migrations(version)``, one row per applied version and nothing else
(no checksum, no time, no failure)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from deploy_gates.migrate.ledger import LedgerRead, LedgerRow, LedgerTable
from deploy_gates.migrate.migration import Migration
from deploy_gates.spec.runbook import Ledger


@dataclass(frozen=True)
class DbmateTable(LedgerTable):
    format = "dbmate"

    def read(self, conn: psycopg.Connection, migrations: list[Migration]) -> LedgerRead | None:
        columns = self.columns(conn)
        if columns is None:
            return None
        self.require(columns, ("version",))
        query = sql.SQL("SELECT version::text FROM {}").format(self.ident)
        rows = [LedgerRow(v, None, None, None, None) for (v,) in conn.execute(query).fetchall()]
        return LedgerRead(rows, query.as_string(conn), False)

    def ensure(self, conn: psycopg.Connection) -> None:
        self.create_schema(conn)
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (version varchar(128) PRIMARY KEY)"
                             ).format(self.ident))
        self.require(self.columns(conn) or set(), ("version",))

    def finish(
        self, conn: psycopg.Connection, migration: Migration, execution_ms: int, started: bool
    ) -> None:
        conn.execute(sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(self.ident),
                     (migration.id,))

    def remove(
        self, conn: psycopg.Connection, migration: Migration, migrations: list[Migration]
    ) -> None:
        conn.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(self.ident),
                     (migration.id,))


def table(kind: str, schema: str, name: str, settings: Ledger) -> DbmateTable:
    return DbmateTable(schema, name)
