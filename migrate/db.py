"""Database sessions whose failures come out as one-line errors that never show a password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.redact import redact_dsn

CONNECT_TIMEOUT_S = 5


def hide_password(text: str, dsn: str) -> str:
    """``text`` with the password of ``dsn`` (if any) replaced by ``***``."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        return text
    return text.replace(password, "***") if password else text


def first_line(text: str, dsn: str) -> str:
    """The first non-empty line of ``text``, password hidden."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return hide_password(lines[0], dsn) if lines else "(no message)"


@contextmanager
def session(dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection; database errors leave it as MigrationErrors naming the target."""
    if redact_dsn(dsn) == "<unparsable DSN>":
        raise MigrationError("cannot parse the DSN (value not shown)")
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            yield conn
    except psycopg.Error as exc:
        raise MigrationError(f"{redact_dsn(dsn)}: {first_line(str(exc), dsn)}") from exc
