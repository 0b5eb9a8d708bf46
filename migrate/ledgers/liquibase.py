"""Liquibase's ``databasechangelog``: one row per executed changeset (``id``, ``author``,
``filename``, ``exectype``, ``md5sum``); a changeset is known by its id and author. The rehearsal
writes Liquibase's current (``9:``) checksum; a stored checksum is compared with the algorithm of
its own version (``8:`` from Liquibase before 4.24), or accepted by the changeset's
``--validCheckSum`` lines, as Liquibase does."""

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
        md5sum = sql.Identifier("md5sum") if "md5sum" in columns else sql.SQL("NULL::text")
        query = sql.SQL("SELECT id || '::' || author, {}, dateexecuted, exectype FROM {}"
                        " ORDER BY orderexecuted").format(md5sum, self.ident)
        by_id = {m.id: m for m in migrations}
        rows = [LedgerRow(ident, _current(stored, by_id.get(ident)), at, None, kind != "FAILED")
                for ident, stored, at, kind in conn.execute(query).fetchall()]
        return LedgerRead(rows, query.as_string(conn), True)

    def ensure(self, conn: psycopg.Connection) -> None:
        self.create_schema(conn)
        lock = sql.Identifier(self.schema, f"{self.name}lock")
        conn.execute(SHAPE.format(log=self.ident.as_string(conn),  # type: ignore[arg-type]
                                  lock=lock.as_string(conn)))
        self.require(self.columns(conn) or set(), COLUMNS)

    def _record(self, conn: psycopg.Connection, migration: Migration, kind: str) -> None:
        """The changeset's row as ``kind``: updated when it ran before (a ``runOnChange``
        changeset, as Liquibase updates it), inserted otherwise."""
        ident, author = migration.id.split("::", 1)
        values = {"id": ident, "author": author, "kind": kind, "md5sum": migration.checksum,
                  "filename": migration.meta["filename"], "note": migration.description,
                  "deployment": secrets.token_hex(5)}
        rerun = conn.execute(
            sql.SQL("UPDATE {0} SET exectype = CASE WHEN exectype = 'FAILED' AND %(kind)s ="
                    " 'EXECUTED' THEN 'EXECUTED' WHEN %(kind)s = 'EXECUTED' THEN 'RERAN'"
                    " ELSE %(kind)s END, md5sum = %(md5sum)s, dateexecuted = now(),"
                    " orderexecuted = (SELECT coalesce(max(orderexecuted), 0) + 1 FROM {0}),"
                    " deployment_id = %(deployment)s WHERE id = %(id)s AND author = %(author)s"
                    ).format(self.ident), values).rowcount
        if not rerun:
            conn.execute(
                sql.SQL("INSERT INTO {0} (id, author, filename, dateexecuted, orderexecuted,"
                        " exectype, md5sum, description, comments, liquibase, deployment_id)"
                        " SELECT %(id)s, %(author)s, %(filename)s, now(),"
                        " coalesce(max(orderexecuted), 0) + 1, %(kind)s, %(md5sum)s, 'sql',"
                        " %(note)s, 'deploy-gates', %(deployment)s FROM {0}").format(self.ident),
                values)

    def start(self, conn: psycopg.Connection, migration: Migration) -> bool:
        if migration.transactional:
            return False
        self._record(conn, migration, "FAILED")
        return True

    def finish(
        self, conn: psycopg.Connection, migration: Migration, execution_ms: int, started: bool
    ) -> None:
        self._record(conn, migration, "EXECUTED")

    def remove(
        self, conn: psycopg.Connection, migration: Migration, migrations: list[Migration]
    ) -> None:
        ident, author = migration.id.split("::", 1)
        conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s AND author = %s").format(self.ident),
                     (ident, author))


def _current(stored: str | None, migration: Migration | None) -> str | None:
    """A stored checksum in the changeset's current (``9:``) terms when it matches the changeset
    under its own version's algorithm or a ``--validCheckSum`` line; else as stored."""
    if stored is None or migration is None:
        return stored
    valid = migration.meta["valid_checksums"].split()
    if stored in (migration.checksum, migration.meta["checksum_v8"], *valid) or any(
            v.lower() == "any" for v in valid):
        return migration.checksum
    return stored


def table(kind: str, schema: str, name: str, settings: Ledger) -> LiquibaseTable:
    return LiquibaseTable(schema, name)
