"""Run a migration's up or down script through the real ``psql`` client, as teams that apply
files with ``psql -f`` do: ``ON_ERROR_STOP``, meta-commands (``\\i``, ``\\ir``, ``\\set``,
``\\echo``, ``\\c`` to another database of the target), one transaction per file or none."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

import psycopg
from psycopg import ClientCursor
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.execute import elapsed_ms, left_behind
from deploy_gates.migrate.ledger import LedgerTable
from deploy_gates.migrate.migration import Migration, Script
from deploy_gates.migrate.statements import manages_transactions

TIMEOUT_S = 600
CONNECT = re.compile(r"^(\s*\\(?:c|connect)\s+)(\S+)(.*)$", re.MULTILINE)
ERROR = re.compile(r"^psql:(?P<file>.+?):(?P<line>\d+): ERROR:\s+(?P<message>.*)$", re.MULTILINE)
ELAPSED = 987_654_321
"""Stands for the script's run time in the ledger SQL psql runs after it; replaced there by the
time since the transaction began."""
ELAPSED_SQL = "(extract(epoch FROM clock_timestamp() - now()) * 1000)::integer"


class Recorder:
    """Quacks like a connection for the ledger's writes and keeps them as SQL text, so that psql
    runs them in the script's own transaction; a ledger's reads (a query that only reads, as
    ``verify.readonly_sql.reads_only`` tells) run at once."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.cursor = ClientCursor(conn)
        self.statements: list[str] = []

    def execute(self, query: object, params: object = None) -> psycopg.Cursor | None:
        from deploy_gates.verify.readonly_sql import reads_only

        text = self.cursor.mogrify(query, params)  # type: ignore[arg-type]
        if reads_only(text):
            return self.conn.execute(text)
        self.statements.append(text)
        return None

    def transaction(self) -> nullcontext:
        return nullcontext()


@dataclass(frozen=True)
class PsqlExecutor:
    """``migrations.executor: psql``: each up or down script through psql, in one transaction
    with its ledger entry (``single_transaction``) or statement by statement as ``psql -f`` runs
    it. ``databases`` maps the names a ``\\c`` may give to their DSNs."""

    dsn: str
    single_transaction: bool = True
    databases: Mapping[str, str] = field(default_factory=dict)
    lock_timeout_s: float = 60

    def wraps(self, script: Script, transactional: bool) -> bool:
        """True when ``script`` runs in one transaction with its ledger entry."""
        return self.single_transaction and transactional and not CONNECT.search(script.text)

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
        wrapped = self.wraps(migration.up, migration.transactional)
        if not wrapped:  # as psql -f runs it: statement by statement, whatever the layout says
            migration = replace(migration, transactional=False)
        started = False if wrapped else table.start(conn, migration)
        partial = (f"recorded as failed in {table}: inspect the database, then delete that "
                   "ledger row to retry" if started
                   else f"the {table.format} ledger {table} cannot record a failed run: it "
                   "stays pending")
        return self._execute(conn, migration.up, wrapped,
                             lambda c, ms: table.finish(c, migration, ms, started),
                             "ledger unchanged", partial)

    def revert(self, conn: psycopg.Connection, table: LedgerTable, migration: Migration,
               script: Script, migrations: list[Migration]) -> int:
        """Run the down ``script`` of ``migration`` with psql and record the rollback
        (``migrations``: all, in order); its execution time in ms."""
        wrapped = self.wraps(script, not manages_transactions(script.text))
        kept = f"{migration.name} stays applied (ledger unchanged)"
        return self._execute(conn, script, wrapped,
                             lambda c, _: table.remove(c, migration, migrations), kept, kept)

    def _execute(self, conn: psycopg.Connection, script: Script, wrapped: bool,
                 record: Callable[[psycopg.Connection, int], None], unchanged: str,
                 partial: str) -> int:
        """Run ``script``, then ``record`` it in the ledger (given the run time in ms): in the
        script's transaction when ``wrapped``. A failure says what it left: nothing and
        ``unchanged`` when wrapped, else the schema changes it made and ``partial``."""
        from deploy_gates.verify.catalog import read_catalog

        before = None if wrapped else read_catalog(conn).fingerprint()
        body = self.connects(script.text)
        head, tail = "\\set ON_ERROR_STOP on\n", ""
        if wrapped:
            recorder = Recorder(conn)
            record(recorder, ELAPSED)  # type: ignore[arg-type]
            head += "BEGIN;\n"
            ledger = ";\n".join(recorder.statements).replace(str(ELAPSED), ELAPSED_SQL)
            tail = f"\n{ledger};\nCOMMIT;\n"
        start = time.monotonic()
        failure = self._psql(script.path.parent, head + body + tail)
        if failure:
            file, line, message = failure
            where = (f"{script.label}:{line - head.count(chr(10)) + script.line - 1}"
                     if file == "<stdin>" else f"{os.path.basename(file)}:{line}")
            if wrapped:
                raise MigrationError(f"{where}: {message}; psql ran the file in one transaction: "
                                     f"nothing from it was applied, {unchanged}")
            raise MigrationError(f"{where}: {message}; psql ran the file without one "
                                 f"transaction: {left_behind(before, conn)}; {partial}")
        elapsed = elapsed_ms(start)
        if not wrapped:
            record(conn, elapsed)
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


def executor_for(
    dsn: str, executor: str, single_transaction: bool, databases: Mapping[str, str] | None,
    lock_timeout_s: float,
) -> PsqlExecutor | None:
    """The psql executor ``migrations.executor: psql`` asks for; None for the built-in one."""
    if executor != "psql":
        return None
    return PsqlExecutor(dsn, single_transaction, databases or {}, lock_timeout_s)


def _without_password(dsn: str) -> str:
    params = {k: v for k, v in conninfo_to_dict(dsn).items() if k != "password"}
    return make_conninfo("", **params)

