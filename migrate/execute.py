"""Run a script's statements one by one and say exactly where one failed."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

import psycopg

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.migration import Migration
from deploy_gates.migrate.statements import Statement


class StatementError(MigrationError):
    """A statement failed; the message is ``script:line: message (SQLSTATE x)``."""

    def __init__(self, message: str, index: int, statement: Statement) -> None:
        super().__init__(message)
        self.index = index
        self.statement = statement


class FileWatch(Protocol):
    """Watches one migration file while it runs (the rehearsal measures locks and timings)."""

    def statement(self, statement: Statement) -> AbstractContextManager[object]:
        """Entered before ``statement`` runs, left after it ran (inside its transaction)."""

    def done(self) -> None:
        """The file's work is committed."""


Watcher = Callable[[psycopg.Connection, Migration], FileWatch]
"""Makes the watch of a file before it starts, on the connection that will run it."""


def describe(exc: psycopg.Error) -> str:
    """PostgreSQL's primary message and SQLSTATE for ``exc``."""
    lines = str(exc).strip().splitlines()
    message = exc.diag.message_primary or (lines[0] if lines else type(exc).__name__)
    return f"{message} (SQLSTATE {exc.sqlstate})" if exc.sqlstate else message


def elapsed_ms(start: float) -> int:
    """Milliseconds since the ``time.monotonic()`` reading ``start``."""
    return round((time.monotonic() - start) * 1000)


def run_statements(
    conn: psycopg.Connection,
    script: str,
    statements: list[Statement],
    watch: FileWatch | None = None,
) -> None:
    """Execute ``statements`` in order; raise StatementError naming ``script`` and the line."""
    for index, statement in enumerate(statements):
        try:
            with watch.statement(statement) if watch else nullcontext():
                conn.execute(statement.text)  # type: ignore[arg-type]  # script text, no parameters
        except psycopg.Error as exc:
            position = exc.diag.statement_position
            line = statement.line_at(int(position)) if position else statement.line
            raise StatementError(f"{script}:{line}: {describe(exc)}", index, statement) from exc


def left_behind(before: dict[str, str], conn: psycopg.Connection) -> str:
    """What changed in the schema since the fingerprint ``before``, in a few words: what
    appeared, and what was ``dropped`` or ``changed`` (a table's own columns not named apart)."""
    from deploy_gates.verify.catalog import changes, read_catalog

    found = changes(before, read_catalog(conn).fingerprint())
    tables = {(c.change, c.object.split(" ")[-1]) for c in found if c.object.startswith("table ")}
    words = {"left behind": "", "missing": "dropped ", "changed": "changed "}
    shown = [f"{words[c.change]}{c.object}" for c in found
             if not (c.object.startswith("column ")
                     and (c.change, c.object.split(" ")[-1].rsplit(".", 1)[0]) in tables)]
    more = f" and {len(shown) - 8} more" if len(shown) > 8 else ""
    return f"it left behind: {', '.join(shown[:8])}{more}" if shown else (
        "it left no schema change behind")
