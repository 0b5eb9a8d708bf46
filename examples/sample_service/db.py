"""PostgreSQL access: short transactions, each on its own connection, always with timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, LiteralString

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 5000
SETUP_LOCK_KEY = 0x5A_4D_50_4C  # serialises schema setup of services started together

Row = dict[str, Any]


def with_timeouts(dsn: str) -> str:
    """``dsn`` with a connect timeout and a statement timeout added to its options."""
    options = conninfo_to_dict(dsn).get("options") or ""
    return make_conninfo(
        dsn,
        connect_timeout=CONNECT_TIMEOUT_S,
        options=f"{options} -c statement_timeout={STATEMENT_TIMEOUT_MS}".strip(),
    )


class Database:
    """The release's database; every call opens a connection that the call closes again."""

    def __init__(self, dsn: str) -> None:
        self._conninfo = with_timeouts(dsn)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Row]]:
        """A connection in a transaction: committed when the block ends, rolled back on error."""
        with psycopg.connect(self._conninfo, row_factory=dict_row) as conn:
            yield conn

    def ping(self) -> bool:
        """True when ``SELECT 1`` answers."""
        try:
            with self.transaction() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def setup(self, script: LiteralString) -> None:
        """Run an idempotent DDL ``script`` in one transaction, one service at a time."""
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SETUP_LOCK_KEY,))
            conn.execute(script)
