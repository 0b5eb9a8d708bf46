"""Run a migration's script through the real ``psql`` client, as teams that apply files with
``psql -f`` do: ``ON_ERROR_STOP``, meta-commands (``\\i``, ``\\ir``, ``\\set``, ``\\echo``, ``\\c``
to another database of the target), one transaction per file or none."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

import psycopg
from psycopg import ClientCursor
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.execute import elapsed_ms
from deploy_gates.migrate.ledger import LedgerTable
from deploy_gates.migrate.migration import Migration

TIMEOUT_S = 600
CONNECT = re.compile(r"^(\s*\\(?:c|connect)\s+)(\S+)(.*)$", re.MULTILINE)
ERROR = re.compile(r"^psql:(?P<file>.+?):(?P<line>\d+): ERROR:\s+(?P<message>.*)$", re.MULTILINE)
ELAPSED = 987_654_321
"""Stands for the script's run time in the ledger SQL psql runs after it; replaced there by the
time since the transaction began."""
ELAPSED_SQL = "(extract(epoch FROM clock_timestamp() - now()) * 1000)::integer"


class Recorder:
    """Quacks like a connection for the ledger's writes and keeps them as SQL text, so that psql
    runs them in the script's own transaction."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.cursor = ClientCursor(conn)
        self.statements: list[str] = []

    def execute(self, query: object, params: object = None) -> None:
        self.statements.append(self.cursor.mogrify(query, params))  # type: ignore[arg-type]

    def transaction(self) -> nullcontext:
        return nullcontext()


@dataclass(frozen=True)
class PsqlExecutor:
    """``migrations.executor: psql``: each script through psql, in one transaction with its
    ledger entry (``single_transaction``) or statement by statement as ``psql -f`` runs it.
    ``databases`` maps the names a ``\\c`` may give to their DSNs."""

    dsn: str
    single_transaction: bool = True
    databases: Mapping[str, str] = field(default_factory=dict)
    lock_timeout_s: float = 60

    def wraps(self, migration: Migration) -> bool:
        """True when the script runs in one transaction with its ledger entry."""
        return (self.single_transaction and migration.transactional
                and not CONNECT.search(migration.up.text))

    def connects(self, text: str) -> str:
        """``text`` with each ``\\c name`` of a database of the target turned into its DSN."""
        def replace(match: re.Match) -> str:
            name = match.group(2).strip("'\"")
            if name not in self.databases:
                known = ", ".join(self.databases) or "none: the spec names no databases"
                raise MigrationError(f"\\c {name}: not a database of this target (known: {known})")
            target = _without_password(self.databases[name])
            return f"{match.group(1)}'{target}'{match.group(3)}"

        return CONNECT.sub(replace, text)

    def run(self, conn: psycopg.Connection, table: LedgerTable, migration: Migration) -> int:
        """Apply ``migration`` with psql and record it; its execution time in ms."""
        script = migration.up
        body = self.connects(script.text)
        wrapped = self.wraps(migration)
        if not wrapped:  # as psql -f runs it: statement by statement, whatever the layout says
            migration = replace(migration, transactional=False)
        started = False if wrapped else table.start(conn, migration)
        head, tail = "\\set ON_ERROR_STOP on\n", ""
        if wrapped:
            recorder = Recorder(conn)
            table.finish(recorder, migration, ELAPSED, False)  # type: ignore[arg-type]
            head += "BEGIN;\n"
            ledger = ";\n".join(recorder.statements).replace(str(ELAPSED), ELAPSED_SQL)
            tail = f"\n{ledger};\nCOMMIT;\n"
        start = time.monotonic()
        failure = self._psql(script.path.parent, head + body + tail)
        if failure:
            file, line, message = failure
            where = (f"{script.label}:{line - head.count(chr(10)) + script.line - 1}"
                     if file == "<stdin>" else f"{os.path.basename(file)}:{line}")
            raise PsqlError(f"{where}: {message}", wrapped, started)
        elapsed = elapsed_ms(start)
        if not wrapped:
            table.finish(conn, migration, elapsed, started)
        return elapsed

    def _psql(self, cwd: object, text: str) -> tuple[str, int, str] | None:
        """Run ``text`` through psql in ``cwd``; (file, line, message) of the error, or None."""
        from deploy_gates.rollback.tools import client_dir_for, server_major

        binary = client_dir_for(server_major(self.dsn)) / "psql"
        env = {**os.environ, "PGOPTIONS": f"-c lock_timeout={int(self.lock_timeout_s * 1000)}",
               "PGCONNECT_TIMEOUT": "10"}
        password = conninfo_to_dict(self.dsn).get("password")
        if password:
            env["PGPASSWORD"] = str(password)
        try:
            done = subprocess.run(
                [str(binary), "-X", "-q", "-f", "-", "--dbname", _without_password(self.dsn)],
                input=text, capture_output=True, text=True, cwd=cwd, env=env,
                timeout=TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise MigrationError(f"psql: no result within {TIMEOUT_S} s") from exc
        except OSError as exc:
            raise MigrationError(f"psql ({binary}): cannot run: {exc}") from exc
        if done.returncode == 0:
            return None
        found = ERROR.search(done.stderr)
        if found:
            return found.group("file"), int(found.group("line")), found.group("message")
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise MigrationError(f"psql failed (exit {done.returncode}): "
                             f"{lines[-1] if lines else 'no error output'}")


class PsqlError(MigrationError):
    """psql stopped at an error; says whether the script ran in one transaction."""

    def __init__(self, message: str, wrapped: bool, started: bool) -> None:
        super().__init__(message)
        self.wrapped, self.started = wrapped, started


def _without_password(dsn: str) -> str:
    params = {k: v for k, v in conninfo_to_dict(dsn).items() if k != "password"}
    return make_conninfo("", **params)

