"""Ask before changing a database: ``--confirm``, or the database name typed on a terminal."""

from __future__ import annotations

import sys

from deploy_gates.migrate.db import session
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.redact import redact_dsn


def _database_name(dsn: str) -> str:
    """The name of the database ``dsn`` connects to."""
    with session(dsn) as conn:
        return conn.execute("SELECT current_database()").fetchone()[0]


def confirm_change(dsn: str, *, confirmed: bool, alternative: str = "") -> None:
    """Return when the change is confirmed; refuse otherwise (``alternative`` ends the hint)."""
    if confirmed:
        return
    refusal = f"refusing to change {redact_dsn(dsn)} without --confirm{alternative}"
    if not sys.stdin.isatty():
        raise MigrationError(refusal)
    database = _database_name(dsn)
    try:
        answer = input(f"type the database name ({database}) to confirm: ")
    except EOFError:
        answer = ""
    if answer.strip() != database:
        raise MigrationError(f"{refusal}: the typed name did not match {database}")
