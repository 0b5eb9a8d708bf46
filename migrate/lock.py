"""The session-level advisory lock that serialises migration runs on one database."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from deploy_gates.migrate.errors import MigrationError

POLL_S = 0.2


def lock_key(ledger_table: str) -> int:
    """The advisory lock key (a signed bigint) for runs that share ``ledger_table`` (the
    ledger's schema-qualified name)."""
    digest = hashlib.sha256(f"deploy-gates migrate {ledger_table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _holder(conn: psycopg.Connection, key: int) -> str:
    """Who holds the lock, e.g. ``pid 1234``, for the timeout message."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    ).fetchone()
    return f"pid {row[0]}" if row else "another session"


@contextmanager
def migration_lock(
    conn: psycopg.Connection,
    ledger_table: str,
    *,
    timeout_s: float,
    progress: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the migration lock for ``ledger_table`` on ``conn``; give up after ``timeout_s``."""
    key = lock_key(ledger_table)
    deadline = time.monotonic() + timeout_s
    waiting = False
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
        if time.monotonic() >= deadline:
            raise MigrationError(
                f"migration lock for {ledger_table} still held by {_holder(conn, key)} after "
                f"{timeout_s:g} s; another migration or rollback is running on this database"
            )
        if not waiting and progress:
            progress(f"waiting for migration lock (held by {_holder(conn, key)}) ...")
        waiting = True
        time.sleep(POLL_S)
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def set_lock_timeout(conn: psycopg.Connection, timeout_s: float) -> None:
    """Give every later lock wait of this session (e.g. DDL on a busy table) ``timeout_s``."""
    conn.execute(
        sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{max(int(timeout_s * 1000), 1)}ms"))
    )
