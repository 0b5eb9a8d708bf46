"""sqitch's registry: schema ``sqitch`` with ``projects``, ``changes`` (the deployed changes, each
by its change id and with the SHA-1 of its deploy script), ``events``, ``tags``, ``dependencies``
and ``releases``. The rehearsal creates the same tables and writes them as ``sqitch deploy`` and
``sqitch revert`` do, with sqitch's own change and tag ids (``layouts.sqitch``)."""

from __future__ import annotations

import json
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


def _recorded(migration: Migration | None, registry_id: str, script_hash: str | None) -> str | None:
    """The checksum a registry row stands for: its deploy script's hash while its change id is
    the plan's, else the id (which no script hash equals: the plan entry was edited or
    reworked since the change was deployed)."""
    if migration is not None and registry_id != migration.meta["change_id"]:
        return f"change id {registry_id}"
    return script_hash


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
        query = sql.SQL("SELECT change, change_id, script_hash, committed_at FROM {}"
                        " WHERE project = ANY({}) ORDER BY committed_at").format(
            self.ident, sql.Literal(projects))
        by_name = {m.name: m for m in migrations}
        rows = [LedgerRow(name, _recorded(by_name.get(name), ident, check), at, None, True)
                for name, ident, check, at in conn.execute(query).fetchall()]
        return LedgerRead(rows, query.as_string(conn), False)

    def ensure(self, conn: psycopg.Connection) -> None:
        self.create_schema(conn)
        schema = sql.Identifier(self.schema).as_string(conn)
        conn.execute(REGISTRY.format(s=schema))  # type: ignore[arg-type]  # identifiers quoted
        conn.execute(sql.SQL("INSERT INTO {}.releases (version, installer_name, installer_email)"
                             " VALUES (1.1, %s, '') ON CONFLICT DO NOTHING").format(
            sql.Identifier(self.schema)), (COMMITTER,))
        self.require(self.columns(conn) or set(), COLUMNS)

    def _event(self, conn: psycopg.Connection, event: str, migration: Migration,
               tags: list[str], requires: list[str], conflicts: list[str]) -> None:
        meta = migration.meta
        conn.execute(
            sql.SQL("INSERT INTO {}.events (event, change_id, change, project, note, tags,"
                    " requires, conflicts, committer_name, committer_email, planned_at,"
                    " planner_name, planner_email)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, '', %s, %s, %s)").format(
                sql.Identifier(self.schema)),
            (event, meta["change_id"], migration.name, meta["project"], migration.description,
             tags, requires, conflicts, COMMITTER, meta["planned_at"], meta["planner_name"],
             meta["planner_email"]),
        )

    def finish(
        self, conn: psycopg.Connection, migration: Migration, execution_ms: int, started: bool
    ) -> None:
        meta, schema = migration.meta, sql.Identifier(self.schema)
        ident, project = meta["change_id"], meta["project"]
        conn.execute(sql.SQL("INSERT INTO {}.projects (project, uri, creator_name, creator_email)"
                             " VALUES (%s, %s, %s, '') ON CONFLICT DO NOTHING").format(schema),
                     (project, meta["uri"] or None, COMMITTER))
        conn.execute(
            sql.SQL("INSERT INTO {} (change_id, script_hash, change, project, note,"
                    " committer_name, committer_email, planned_at, planner_name, planner_email)"
                    " VALUES (%s, %s, %s, %s, %s, %s, '', %s, %s, %s)").format(self.ident),
            (ident, migration.checksum, migration.name, project, migration.description,
             COMMITTER, meta["planned_at"], meta["planner_name"], meta["planner_email"]),
        )
        requires, conflicts = json.loads(meta["requires"]), json.loads(meta["conflicts"])
        for kind, dependency in [("require", d) for d in requires] + [
                ("conflict", d) for d in conflicts]:
            conn.execute(
                sql.SQL("INSERT INTO {0}.dependencies (change_id, type, dependency,"
                        " dependency_id) VALUES (%s, %s, %s, CASE WHEN %s = 'require' THEN"
                        " (SELECT change_id FROM {1} WHERE project = %s AND change = %s) END)"
                        ).format(schema, self.ident),
                (ident, kind, dependency, kind,
                 *_resolved(dependency, project)))
        tags = json.loads(meta["tags"])
        for tag in tags:
            conn.execute(
                sql.SQL("INSERT INTO {}.tags (tag_id, tag, project, change_id, note,"
                        " committer_name, committer_email, planned_at, planner_name,"
                        " planner_email) VALUES (%s, %s, %s, %s, %s, %s, '', %s, %s, %s)"
                        ).format(schema),
                (tag["id"], tag["tag"], project, ident, tag["note"], COMMITTER,
                 tag["planned_at"], tag["planner_name"], tag["planner_email"]))
        self._event(conn, "deploy", migration, [t["tag"] for t in tags], requires, conflicts)

    def remove(
        self, conn: psycopg.Connection, migration: Migration, migrations: list[Migration]
    ) -> None:
        schema, meta = sql.Identifier(self.schema), migration.meta
        deployed = conn.execute(sql.SQL("SELECT change_id FROM {} WHERE project = %s AND"
                                        " change = %s").format(self.ident),
                                (meta["project"], migration.name)).fetchone()
        ident = deployed[0] if deployed else meta["change_id"]
        tags, requires, conflicts = conn.execute(sql.SQL(
            "SELECT ARRAY(SELECT tag FROM {0}.tags WHERE change_id = %(id)s ORDER BY tag),"
            " ARRAY(SELECT dependency FROM {0}.dependencies WHERE change_id = %(id)s AND"
            " type = 'require'), ARRAY(SELECT dependency FROM {0}.dependencies WHERE"
            " change_id = %(id)s AND type = 'conflict')").format(schema), {"id": ident}).fetchone()
        conn.execute(sql.SQL("DELETE FROM {}.tags WHERE change_id = %s").format(schema), (ident,))
        conn.execute(sql.SQL("DELETE FROM {} WHERE change_id = %s").format(self.ident), (ident,))
        self._event(conn, "revert", migration, tags, requires, conflicts)


def _resolved(dependency: str, project: str) -> tuple[str, str]:
    """The project and change a required dependency names (``proj:change@tag`` -> proj,
    change)."""
    owner, colon, key = dependency.partition(":")
    return (owner, key.partition("@")[0]) if colon else (project, dependency.partition("@")[0])


def table(kind: str, schema: str, name: str, settings: Ledger) -> SqitchTable:
    return SqitchTable(schema, name)
