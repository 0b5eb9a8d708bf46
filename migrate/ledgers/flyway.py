"""Flyway's ``flyway_schema_history``: one row per run of a script, ranked; the latest row of a
version says whether it is applied (``SQL``) or undone (``UNDO_SQL``), a ``BASELINE`` row marks
the versions up to it applied, and a repeatable is current while its latest checksum matches."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from deploy_gates.migrate.layouts.flyway import checksum, version_id
from deploy_gates.migrate.ledger import LedgerRead, LedgerRow, LedgerTable
from deploy_gates.migrate.migration import Migration
from deploy_gates.spec.runbook import Ledger

COLUMNS = ("installed_rank", "version", "description", "type", "script", "checksum",
           "installed_on", "execution_time", "success")
APPLIED = {"SQL", "JDBC", "SPRING_JDBC", "SCRIPT", "SQL_BASELINE"}
UNDONE = {"UNDO_SQL", "UNDO_JDBC", "UNDO_SPRING_JDBC", "UNDO_SCRIPT", "DELETE"}


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version_id(version).split("."))


@dataclass(frozen=True)
class FlywayTable(LedgerTable):
    format = "flyway"

    def read(self, conn: psycopg.Connection, migrations: list[Migration]) -> LedgerRead | None:
        columns = self.columns(conn)
        if columns is None:
            return None
        self.require(columns, COLUMNS)
        query = sql.SQL("SELECT {} FROM {} ORDER BY installed_rank").format(
            sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), self.ident)
        latest: dict[str, LedgerRow] = {}
        baseline: tuple[int, ...] | None = None
        for _, version, description, kind, _, check, at, ms, ok in conn.execute(query):
            if kind == "BASELINE" and version:
                baseline = _key(version)
                continue
            key = version_id(version) if version else f"R__{description}"
            if kind in UNDONE:
                latest.pop(key, None)
            elif kind in APPLIED:
                latest[key] = LedgerRow(key, None if check is None else str(check), at, ms, ok)
        if baseline is not None:
            for m in migrations:
                if not m.repeatable and _key(m.id) <= baseline and m.id not in latest:
                    latest[m.id] = LedgerRow(m.id, None, None, None, True)
        return LedgerRead(list(latest.values()), query.as_string(conn), True)

    def ensure(self, conn: psycopg.Connection) -> None:
        self.create_schema(conn)
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (installed_rank integer NOT NULL, version varchar(50),"
            " description varchar(200) NOT NULL, type varchar(20) NOT NULL,"
            " script varchar(1000) NOT NULL, checksum integer,"
            " installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),"
            " execution_time integer NOT NULL, success boolean NOT NULL,"
            " CONSTRAINT {} PRIMARY KEY (installed_rank))"
        ).format(self.ident, sql.Identifier(f"{self.name}_pk")))
        conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (success)").format(
            sql.Identifier(f"{self.name}_s_idx"), self.ident))
        self.require(self.columns(conn) or set(), COLUMNS)

    def _insert(self, conn: psycopg.Connection, migration: Migration, kind: str, script: str,
                check: str | None, ms: int, ok: bool) -> None:
        conn.execute(
            sql.SQL(
                "INSERT INTO {0} (installed_rank, version, description, type, script, checksum,"
                " installed_by, execution_time, success) SELECT coalesce(max(installed_rank), 0)"
                " + 1, %s, %s, %s, %s, %s, current_user, %s, %s FROM {0}"
            ).format(self.ident),
            (migration.version or None, migration.description, kind, script,
             None if check is None else int(check), ms, ok),
        )

    def start(self, conn: psycopg.Connection, migration: Migration) -> bool:
        if migration.transactional:
            return False
        self._insert(conn, migration, "SQL", migration.name, migration.checksum, 0, False)
        return True

    def finish(
        self, conn: psycopg.Connection, migration: Migration, execution_ms: int, started: bool
    ) -> None:
        if not started:
            self._insert(conn, migration, "SQL", migration.name, migration.checksum,
                         execution_ms, True)
            return
        conn.execute(
            sql.SQL("UPDATE {0} SET success = true, execution_time = %s WHERE installed_rank ="
                    " (SELECT max(installed_rank) FROM {0} WHERE script = %s)").format(self.ident),
            (execution_ms, migration.name),
        )

    def remove(
        self, conn: psycopg.Connection, migration: Migration, migrations: list[Migration]
    ) -> None:
        undo = migration.down
        self._insert(conn, migration, "UNDO_SQL", undo.label if undo else migration.name,
                     checksum(undo.text) if undo else None, 0, True)


def table(kind: str, schema: str, name: str, settings: Ledger) -> FlywayTable:
    return FlywayTable(schema, name)
