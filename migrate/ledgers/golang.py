"""golang-migrate's ledger: one row, ``schema_migrations(version bigint, dirty boolean)``, the
version last applied; dirty means that migration failed (or is running)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from deploy_gates.migrate.ledger import LedgerRead, LedgerRow, LedgerTable
from deploy_gates.migrate.migration import Migration
from deploy_gates.spec.runbook import Ledger


@dataclass(frozen=True)
class GolangTable(LedgerTable):
    format = "golang-migrate"

    def read(self, conn: psycopg.Connection, migrations: list[Migration]) -> LedgerRead | None:
        columns = self.columns(conn)
        if columns is None:
            return None
        self.require(columns, ("version", "dirty"))
        query = sql.SQL("SELECT version, dirty FROM {} LIMIT 1").format(self.ident)
        found = conn.execute(query).fetchone()
        rows = []
        if found is not None:
            current, dirty = found
            rows = [LedgerRow(m.id, None, None, None, True)
                    for m in migrations if int(m.version) < current]
            rows.append(LedgerRow(str(current), None, None, None, not dirty))
        return LedgerRead(rows, query.as_string(conn), True)

    def ensure(self, conn: psycopg.Connection) -> None:
        self.create_schema(conn)
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (version bigint NOT NULL PRIMARY KEY,"
                             " dirty boolean NOT NULL)").format(self.ident))
        self.require(self.columns(conn) or set(), ("version", "dirty"))

    def _set(self, conn: psycopg.Connection, version: int | None, dirty: bool) -> None:
        with conn.transaction():
            conn.execute(sql.SQL("DELETE FROM {}").format(self.ident))
            if version is not None:
                conn.execute(sql.SQL("INSERT INTO {} (version, dirty) VALUES (%s, %s)").format(
                    self.ident), (version, dirty))

    def start(self, conn: psycopg.Connection, migration: Migration) -> bool:
        self._set(conn, int(migration.version), True)
        return True

    def finish(
        self, conn: psycopg.Connection, migration: Migration, execution_ms: int, started: bool
    ) -> None:
        self._set(conn, int(migration.version), False)

    def remove(
        self, conn: psycopg.Connection, migration: Migration, migrations: list[Migration]
    ) -> None:
        before = [m for m in migrations if int(m.version) < int(migration.version)]
        self._set(conn, int(before[-1].version) if before else None, False)


def table(kind: str, schema: str, name: str, settings: Ledger) -> GolangTable:
    return GolangTable(schema, name)
