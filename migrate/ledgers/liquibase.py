"""Liquibase's ``databasechangelog``: one row per executed changeset (``id``, ``author``,
``filename``, ``exectype``); a changeset is known by its id and author. Liquibase's own MD5
checksums are not recomputed: the rehearsal writes none (Liquibase fills them in) and reads none."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import psycopg
from psycopg import sql

from deploy_gates.migrate.ledger import LedgerRead, LedgerRow, LedgerTable
from deploy_gates.migrate.migration import Migration
from deploy_gates.spec.runbook import Ledger

COLUMNS = ("id", "author", "filename", "dateexecuted", "orderexecuted", "exectype")
SHAPE = """CREATE TABLE IF NOT EXISTS {log} (id varchar(255) NOT NULL,
    author varchar(255) NOT NULL, filename varchar(255) NOT NULL,
    dateexecuted timestamp NOT NULL, orderexecuted integer NOT NULL,
    exectype varchar(10) NOT NULL, md5sum varchar(35), description varchar(255),
    comments varchar(255), tag varchar(255), liquibase varchar(20), contexts varchar(255),
    labels varchar(255), deployment_id varchar(10));
CREATE TABLE IF NOT EXISTS {lock} (id integer PRIMARY KEY, locked boolean NOT NULL,
    lockgranted timestamp, lockedby varchar(255));
"""


@dataclass(frozen=True)
class LiquibaseTable(LedgerTable):
    format = "liquibase"

    def owns(self, key: str) -> bool:
        lock = f"{self.schema}.{self.name}lock"
        return super().owns(key) or key == lock or key.startswith(f"{lock}.")

    def read(self, conn: psycopg.Connection, migrations: list[Migration]) -> LedgerRead | None:
        columns = self.columns(conn)
        if columns is None:
            return None
        self.require(columns, COLUMNS)
        query = sql.SQL("SELECT id || '::' || author, dateexecuted, exectype FROM {}"
                        " ORDER BY orderexecuted").format(self.ident)
        rows = [LedgerRow(ident, None, at, None, kind != "FAILED")
                for ident, at, kind in conn.execute(query).fetchall()]
        return LedgerRead(rows, query.as_string(conn), True)

    def ensure(self, conn: psycopg.Connection) -> None:
        self.create_schema(conn)
        lock = sql.Identifier(self.schema, f"{self.name}lock")
        conn.execute(SHAPE.format(log=self.ident.as_string(conn),  # type: ignore[arg-type]
                                  lock=lock.as_string(conn)))
        self.require(self.columns(conn) or set(), COLUMNS)

    def _insert(self, conn: psycopg.Connection, migration: Migration, kind: str) -> None:
        ident, author = migration.id.split("::", 1)
        conn.execute(
            sql.SQL("INSERT INTO {0} (id, author, filename, dateexecuted, orderexecuted,"
                    " exectype, description, comments, liquibase, deployment_id)"
                    " SELECT %s, %s, %s, now(), coalesce(max(orderexecuted), 0) + 1, %s, 'sql',"
                    " %s, 'deploy-gates', %s FROM {0}").format(self.ident),
            (ident, author, migration.meta["filename"], kind, migration.description,
             secrets.token_hex(5)),
        )

    def start(self, conn: psycopg.Connection, migration: Migration) -> bool:
        if migration.transactional:
            return False
        self._insert(conn, migration, "FAILED")
        return True

    def finish(
        self, conn: psycopg.Connection, migration: Migration, execution_ms: int, started: bool
    ) -> None:
        if not started:
            self._insert(conn, migration, "EXECUTED")
            return
        ident, author = migration.id.split("::", 1)
        conn.execute(sql.SQL("UPDATE {} SET exectype = 'EXECUTED' WHERE id = %s AND author = %s"
                             ).format(self.ident), (ident, author))

    def remove(
        self, conn: psycopg.Connection, migration: Migration, migrations: list[Migration]
    ) -> None:
        ident, author = migration.id.split("::", 1)
        conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s AND author = %s").format(self.ident),
                     (ident, author))


def table(kind: str, schema: str, name: str, settings: Ledger) -> LiquibaseTable:
    return LiquibaseTable(schema, name)
