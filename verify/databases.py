"""The databases of a system on a throwaway server: one per database of the spec, created
together so that they can reach each other, each with a dblink foreign server per link."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.spec.runbook import Runbook


def create_databases(server: Server, runbook: Runbook, prefix: str) -> dict[str, str]:
    """New databases on ``server`` for each database of ``runbook`` (one, ``""``, for a spec
    without ``databases``), by key, with their links."""
    if not runbook.databases:
        return {"": server.create_database(prefix)}
    dsns = {key: server.create_database(f"{prefix}_{key}") for key in runbook.databases}
    for key, db in runbook.databases.items():
        if db.links:
            with psycopg.connect(dsns[key], autocommit=True, connect_timeout=10) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS dblink")
                for link in db.links:
                    add_link(conn, link, dsns[link])
    return dsns


def add_link(conn: psycopg.Connection, name: str, dsn: str) -> None:
    """A dblink_fdw foreign server ``name`` for the database of ``dsn``, with a user mapping for
    the current user: ``dblink('name', ...)`` then reaches it."""
    params = conninfo_to_dict(dsn)
    options = {k: str(params[k]) for k in ("host", "port", "dbname") if params.get(k)}
    mapping = {k: str(params[k]) for k in ("user", "password") if params.get(k)}
    conn.execute(sql.SQL("CREATE SERVER {} FOREIGN DATA WRAPPER dblink_fdw OPTIONS ({})").format(
        sql.Identifier(name), _options(options)))
    conn.execute(sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS ({})").format(
        sql.Identifier(name), _options(mapping)))


def _options(values: dict[str, str]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in values.items()
    )


def connect_names(runbook: Runbook, dsns: dict[str, str]) -> dict[str, str]:
    """What a psql ``\\c`` may call each database of ``dsns`` (its key, and its ``name``) -> its
    DSN."""
    names = dict(dsns)
    for key, db in runbook.databases.items():
        if db.name and key in dsns:
            names[db.name] = dsns[key]
    return {k: v for k, v in names.items() if k}
