"""A migration's own verify script (sqitch's ``verify/<change>.sql``), run as a check: inside a
transaction that is always rolled back, so on a live target it only reads."""

from __future__ import annotations

import psycopg

from deploy_gates.migrate import Migration
from deploy_gates.migrate.execute import StatementError, run_statements
from deploy_gates.migrate.statements import TRANSACTION_CONTROL


def verify_problem(conn: psycopg.Connection, migration: Migration) -> str | None:
    """Why ``migration``'s verify script fails on ``conn`` (``file:line: message``), or None.
    Its own BEGIN and ROLLBACK are left out: it runs in one transaction that is rolled back."""
    script = migration.verify
    statements = [s for s in script.statements(transactional=False)
                  if not TRANSACTION_CONTROL.match(s.text)]
    try:
        with conn.transaction(force_rollback=True):
            run_statements(conn, f"verify/{script.label}", statements)
    except StatementError as exc:
        return f"expected verify/{script.label} of {migration.name} to pass; found: {exc}"
    return None


def verified(migrations: list[Migration]) -> list[Migration]:
    """The migrations that have a verify script."""
    return [m for m in migrations if m.verify is not None]
