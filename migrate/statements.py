"""Split a SQL script into statements that know the file line they start on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy_gates.migrate.errors import MigrationError

TRANSACTION_CONTROL = re.compile(
    r"(BEGIN|START|COMMIT|END|ABORT|ROLLBACK(?!\s+TO\b))\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Statement:
    """One statement of a script: its text as sent and the file line its first token is on."""

    line: int
    text: str

    def line_at(self, position: int) -> int:
        """The file line of the 1-based character ``position`` in ``text`` (PostgreSQL's)."""
        return self.line + self.text.count("\n", 0, max(position - 1, 0))


def _code_offset(piece: str) -> int | None:
    """Offset of the first token that is neither whitespace nor comment; None if there is none."""
    from sqlparse import tokens
    from sqlparse.lexer import Lexer

    offset = 0
    for ttype, value in Lexer.get_default_instance().get_tokens(piece):
        if ttype not in tokens.Whitespace and ttype not in tokens.Comment:
            return offset
        offset += len(value)
    return None


def split_statements(source: str) -> list[Statement]:
    """The statements of ``source`` (``$$`` bodies intact, comment-only pieces dropped)."""
    import sqlparse  # loaded by the runs that read migration files

    statements = []
    cursor = 0
    for piece in sqlparse.split(source):
        start = source.index(piece, cursor)
        cursor = start + len(piece)
        code = _code_offset(piece)
        if code is not None:
            line = source.count("\n", 0, start + code) + 1
            statements.append(Statement(line, piece[code:]))
    return statements


NO_TRANSACTION = re.compile(
    r"(?:CREATE|DROP|REINDEX)\b[^;]*\bCONCURRENTLY\b|VACUUM\b|ALTER\s+SYSTEM\b", re.IGNORECASE
)
CREATE_DATABASE = re.compile(r"(CREATE|DROP|ALTER)\s+DATABASE\b", re.IGNORECASE)
PSQL_EXECUTOR = "set migrations.executor: psql to run it with psql"


def _meta_command(statement: Statement) -> tuple[int, str] | None:
    """The file line and name of the first psql meta-command (``\\set``, ``\\i``, ...) in
    ``statement``, which sqlparse keeps with the SQL after it; None when it has none."""
    from sqlparse import tokens
    from sqlparse.lexer import Lexer

    offset = 0
    for ttype, value in Lexer.get_default_instance().get_tokens(statement.text):
        if ttype in tokens.Generic.Command:
            return statement.line + statement.text.count("\n", 0, offset), value
        offset += len(value)
    return None


def check_statements(label: str, statements: list[Statement], *, transactional: bool) -> None:
    """Refuse, naming ``label`` and the line, what the built-in executor does not run: psql
    meta-commands, statements on whole databases, and transaction control in a script that
    already runs in one transaction."""
    for statement in statements:
        meta = _meta_command(statement)
        if meta:
            raise MigrationError(
                f"{label}:{meta[0]}: psql meta-command {meta[1]} is not SQL, and the built-in "
                f"executor runs SQL only; {PSQL_EXECUTOR}"
            )
        database = CREATE_DATABASE.match(statement.text)
        if database:
            raise MigrationError(
                f"{label}:{statement.line}: {database.group(1).upper()} DATABASE is not run by "
                "the built-in executor, which applies a migration to one database; name each "
                f"database in the spec (databases:), or {PSQL_EXECUTOR}"
            )
        control = TRANSACTION_CONTROL.match(statement.text) if transactional else None
        if control:
            raise MigrationError(
                f"{label}:{statement.line}: {control.group(1).upper()} is not allowed: the "
                "file already runs in one transaction (mark it '-- deploy-gates: "
                "no-transaction' to manage transactions yourself)"
            )


def manages_transactions(text: str) -> bool:
    """True when a script has its own transaction control (``BEGIN; ... COMMIT;``) or a statement
    that cannot run in a transaction (``CREATE INDEX CONCURRENTLY``, ``VACUUM``): then it runs as
    it is, statement by statement, not wrapped in one transaction."""
    return any(
        TRANSACTION_CONTROL.match(s.text) or NO_TRANSACTION.match(s.text)
        for s in split_statements(text)
    )
