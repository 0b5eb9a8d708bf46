"""Split a SQL script into statements that know the file line they start on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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


def read_statements(path: Path, *, transactional: bool) -> list[Statement]:
    """The statements of the script at ``path``; a transactional one may not end its transaction."""
    try:
        source = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationError(f"cannot read {path}: {exc}") from exc
    statements = split_statements(source)
    if transactional:
        for statement in statements:
            control = TRANSACTION_CONTROL.match(statement.text)
            if control:
                raise MigrationError(
                    f"{path.name}:{statement.line}: {control.group(1).upper()} is not allowed: the "
                    "file already runs in one transaction (mark it '-- deploy-gates: "
                    "no-transaction' to manage transactions yourself)"
                )
    return statements
