"""How gates reach a target's database: a live session is read-only by default for its whole
life, with the target's statement and lock timeouts; a failure to reach it is one line that names
the target and the cause, never the password."""

from __future__ import annotations

import os
import re
import socket
import threading

import psycopg
from psycopg.conninfo import conninfo_to_dict

from deploy_gates.migrate.db import first_line
from deploy_gates.redact import redact_dsn
from deploy_gates.spec.runbook import LiveTarget

CONNECT_TIMEOUT_S = 10
"""Seconds to connect, and for the first answer, unless the DSN sets ``connect_timeout``."""
SETTINGS = "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)"
SERVER_FAILED = re.compile(r"^connection to (server .*?) failed: (?:FATAL:\s+)?(.+)$")


class TargetUnavailable(Exception):
    """A target's database cannot be reached, or the release cannot be deployed on it;
    ``str()`` is one line that names the target."""


def live_options(given: str, live: LiveTarget) -> str:
    """The ``options`` startup parameter of a live session: what the DSN (or ``PGOPTIONS``)
    gives, then read-only by default and the timeouts, which therefore win."""
    ours = " ".join(f"-c {name}={value}" for name, value in expected_settings(live).items())
    return f"{given} {ours}".strip()


def open_session(dsn: str, live: LiveTarget | None) -> psycopg.Connection:
    """A connection for gates: autocommit on a throwaway database (``live`` None); on a live
    one, read-only by default for the whole session (after a COMMIT in the SQL, the next
    transaction is read-only too), each transaction read-only, and the target's statement and
    lock timeouts, all as session defaults set at connection time."""
    timeout = connect_timeout(dsn)
    if live is None:
        return psycopg.connect(dsn, connect_timeout=timeout, autocommit=True)
    given = conninfo_to_dict(dsn).get("options") or os.environ.get("PGOPTIONS", "")
    conn = psycopg.connect(dsn, connect_timeout=timeout, options=live_options(given, live))
    conn.read_only = True
    return conn


def reach(name: str, dsn: str, live: LiveTarget) -> None:
    """Connect to the live target ``name`` and have a first query answered, each within the
    connect timeout, and check that the session has the settings ``open_session`` asked for;
    TargetUnavailable saying why not."""
    seconds = connect_timeout(dsn)
    cut = threading.Event()
    try:
        conn = open_session(dsn, live)
        timer = threading.Timer(seconds, _cut_off, (conn, cut))
        timer.start()
        try:
            settings = dict(conn.execute(SETTINGS, [list(expected_settings(live))]).fetchall())
        finally:
            timer.cancel()
            conn.close()
    except psycopg.Error as exc:
        cause = (
            f"no answer to the first query within {seconds} s"
            if cut.is_set()
            else connect_cause(dsn, exc)
        )
        raise TargetUnavailable(f"target {name}: cannot connect to the database: {cause}") from None
    for setting, value in expected_settings(live).items():
        if settings.get(setting) != value:
            raise TargetUnavailable(
                f"target {name}: refusing the database session: {setting} is "
                f"{settings.get(setting)} after connecting, not {value} (a connection pooler "
                "that drops the startup parameter options does this)"
            )


def expected_settings(live: LiveTarget) -> dict[str, str]:
    """The settings of a live session, as ``pg_settings.setting`` shows them (timeouts in ms)."""
    return {
        "default_transaction_read_only": "on",
        "statement_timeout": str(live.statement_timeout_ms),
        "lock_timeout": str(live.lock_timeout_ms),
    }


def connect_cause(dsn: str, exc: psycopg.Error) -> str:
    """Why connecting to ``dsn`` failed, in one line without the password."""
    if isinstance(exc, psycopg.errors.ConnectionTimeout):
        return f"no answer within {connect_timeout(dsn)} s (connect_timeout)"
    if redact_dsn(dsn) == "<unparsable DSN>":
        return "the DSN is not a valid connection string (value not shown)"
    line = first_line(str(exc), dsn).removeprefix("connection failed: ")
    match = SERVER_FAILED.match(line)
    return f"{match.group(2)} ({match.group(1)})" if match else line


def connect_timeout(dsn: str) -> int:
    """The DSN's ``connect_timeout`` in seconds, else CONNECT_TIMEOUT_S."""
    try:
        return int(conninfo_to_dict(dsn).get("connect_timeout") or CONNECT_TIMEOUT_S)
    except (psycopg.Error, ValueError):
        return CONNECT_TIMEOUT_S


def _cut_off(conn: psycopg.Connection, cut: threading.Event) -> None:
    """End a connection whose server does not answer: the waiting query fails at once."""
    cut.set()
    try:
        with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):
        pass
