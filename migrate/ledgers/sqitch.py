"""sqitch's registry: schema ``sqitch`` with ``projects``, ``changes`` (the deployed changes, each
with the SHA-1 of its deploy script), ``events``, ``tags``, ``dependencies`` and ``releases``. The
rehearsal creates the same tables; it records deploys and reverts in ``changes`` and ``events``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg
from psycopg import sql

from deploy_gates.migrate.ledger import LedgerRead, LedgerRow, LedgerTable
from deploy_gates.migrate.migration import Migration
from deploy_gates.spec.runbook import Ledger

REGISTRY = """
CREATE TABLE IF NOT EXISTS {s}.releases (version real PRIMARY KEY,
    installed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    installer_name text NOT NULL, installer_email text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.projects (project text PRIMARY KEY, uri text NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    creator_name text NOT NULL, creator_email text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.changes (change_id text PRIMARY KEY, script_hash text NULL,
    change text NOT NULL,
    project text NOT NULL REFERENCES {s}.projects(project) ON UPDATE CASCADE,
    note text NOT NULL DEFAULT '', committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    committer_name text NOT NULL, committer_email text NOT NULL,
    planned_at timestamptz NOT NULL, planner_name text NOT NULL, planner_email text NOT NULL,
    UNIQUE (project, script_hash));
CREATE TABLE IF NOT EXISTS {s}.tags (tag_id text PRIMARY KEY, tag text NOT NULL,
    project text NOT NULL REFERENCES {s}.projects(project) ON UPDATE CASCADE,
    change_id text NOT NULL REFERENCES {s}.changes(change_id) ON UPDATE CASCADE,
    note text NOT NULL DEFAULT '', committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    committer_name text NOT NULL, committer_email text NOT NULL,
    planned_at timestamptz NOT NULL, planner_name text NOT NULL, planner_email text NOT NULL,
    UNIQUE (project, tag));
CREATE TABLE IF NOT EXISTS {s}.dependencies (
    change_id text NOT NULL REFERENCES {s}.changes(change_id) ON UPDATE CASCADE ON DELETE CASCADE,
    type text NOT NULL, dependency text NOT NULL,
    dependency_id text NULL REFERENCES {s}.changes(change_id) ON UPDATE CASCADE,
    PRIMARY KEY (change_id, dependency));
CREATE TABLE IF NOT EXISTS {s}.events (event text NOT NULL
        CHECK (event IN ('deploy', 'revert', 'fail', 'merge')),
    change_id text NOT NULL, change text NOT NULL,
    project text NOT NULL REFERENCES {s}.projects(project) ON UPDATE CASCADE,
    note text NOT NULL DEFAULT '', requires text[] NOT NULL DEFAULT '{{}}',
    conflicts text[] NOT NULL DEFAULT '{{}}', tags text[] NOT NULL DEFAULT '{{}}',
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    committer_name text NOT NULL, committer_email text NOT NULL,
    planned_at timestamptz NOT NULL, planner_name text NOT NULL, planner_email text NOT NULL,
    PRIMARY KEY (change_id, committed_at));
"""
COLUMNS = ("change_id", "script_hash", "change", "project", "committed_at")
COMMITTER = "deploy-gates"


def change_id(migration: Migration) -> str:
    """A stable id for a change (sqitch hashes the project, change, planner and date)."""
    meta = migration.meta
    info = (f"project {meta['project']}\nchange {migration.name}\n"
            f"planner {meta['planner_name']} <{meta['planner_email']}>\n"
            f"date {meta['planned_at']}")
    return hashlib.sha1(f"change {len(info)}\0{info}".encode()).hexdigest()


@dataclass(frozen=True)
class SqitchTable(LedgerTable):
    format = "sqitch"

    def owns(self, key: str) -> bool:
        return key == self.schema or key.startswith(f"{self.schema}.")

    def read(self, conn: psycopg.Connection, migrations: list[Migration]) -> LedgerRead | None:
        columns = self.columns(conn)
        if columns is None:
            return None
        self.require(columns, COLUMNS)
        projects = sorted({m.meta["project"] for m in migrations})
        query = sql.SQL("SELECT change, script_hash, committed_at FROM {} WHERE project = ANY({})"
                        " ORDER BY committed_at").format(self.ident, sql.Literal(projects))
        rows = [LedgerRow(name, check, at, None, True)
                for name, check, at in conn.execute(query).fetchall()]
        return LedgerRead(rows, query.as_string(conn), False)

    def ensure(self, conn: psycopg.Connection) -> None:
        self.create_schema(conn)
        schema = sql.Identifier(self.schema).as_string(conn)
        conn.execute(REGISTRY.format(s=schema))  # type: ignore[arg-type]  # identifiers quoted
        conn.execute(sql.SQL("INSERT INTO {}.releases (version, installer_name, installer_email)"
                             " VALUES (1.1, %s, '') ON CONFLICT DO NOTHING").format(
            sql.Identifier(self.schema)), (COMMITTER,))
        self.require(self.columns(conn) or set(), COLUMNS)

    def _event(self, conn: psycopg.Connection, event: str, migration: Migration) -> None:
        meta = migration.meta
        conn.execute(
            sql.SQL("INSERT INTO {}.events (event, change_id, change, project, note,"
                    " committer_name, committer_email, planned_at, planner_name, planner_email)"
                    " VALUES (%s, %s, %s, %s, %s, %s, '', %s, %s, %s)").format(
                sql.Identifier(self.schema)),
            (event, change_id(migration), migration.name, meta["project"], migration.description,
             COMMITTER, meta["planned_at"], meta["planner_name"], meta["planner_email"]),
        )

    def finish(
        self, conn: psycopg.Connection, migration: Migration, execution_ms: int, started: bool
    ) -> None:
        meta, schema = migration.meta, sql.Identifier(self.schema)
        conn.execute(sql.SQL("INSERT INTO {}.projects (project, creator_name, creator_email)"
                             " VALUES (%s, %s, '') ON CONFLICT DO NOTHING").format(schema),
                     (meta["project"], COMMITTER))
        conn.execute(
            sql.SQL("INSERT INTO {} (change_id, script_hash, change, project, note,"
                    " committer_name, committer_email, planned_at, planner_name, planner_email)"
                    " VALUES (%s, %s, %s, %s, %s, %s, '', %s, %s, %s)").format(self.ident),
            (change_id(migration), migration.checksum, migration.name, meta["project"],
             migration.description, COMMITTER, meta["planned_at"], meta["planner_name"],
             meta["planner_email"]),
        )
        self._event(conn, "deploy", migration)

    def remove(
        self, conn: psycopg.Connection, migration: Migration, migrations: list[Migration]
    ) -> None:
        conn.execute(sql.SQL("DELETE FROM {} WHERE project = %s AND change = %s").format(
            self.ident), (migration.meta["project"], migration.name))
        self._event(conn, "revert", migration)


def table(kind: str, schema: str, name: str, settings: Ledger) -> SqitchTable:
    return SqitchTable(schema, name)
