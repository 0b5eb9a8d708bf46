"""What the baseline tables hold: a row count and order-independent content hashes per table and
column, read in one statement, and the readable difference between two readings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from deploy_gates.migrate import Statement
from deploy_gates.verify.catalog import Catalog

NULL_TEXT = "<null>"
PRESENT = """SELECT n.nspname || '.' || c.relname, a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
  AND n.nspname || '.' || c.relname = ANY (%s)"""


@dataclass(frozen=True)
class TableContent:
    """A table's row count and the hashes of its rows and of each column's values."""

    rows: int
    digest: str
    columns: dict[str, str]


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL identifier: ``"event_log"``."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a PostgreSQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def quote_table(name: str) -> str:
    """A ``schema.table`` name as a qualified identifier."""
    schema, _, table = name.partition(".")
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def _hash(value: str) -> str:
    """A 60-bit hash of ``value`` as a bigint; summed over rows it ignores their order."""
    return f"('x' || substr(md5({value}), 1, 15))::bit(60)::bigint"


def present_in(catalog: Catalog, tables: dict[str, list[str]]) -> dict[str, list[str]]:
    """The columns of ``tables`` (``schema.table -> columns``) that ``catalog`` still has, for
    the tables it still has."""
    return {
        t: [c for c in columns if f"{t}.{c}" in catalog.columns]
        for t, columns in tables.items()
        if catalog.relations.get(t) == "table"
    }


def present_now(conn: psycopg.Connection, tables: dict[str, list[str]]) -> dict[str, list[str]]:
    """The same, read from ``conn`` (inside a transaction, as it sees it)."""
    rows = conn.execute(PRESENT, (list(tables),)).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return {t: [c for c in tables[t] if c in found[t]] for t in tables if t in found}


def read_contents(
    conn: psycopg.Connection, tables: dict[str, list[str]], present: dict[str, list[str]]
) -> dict[str, TableContent | None]:
    """The content of each of ``tables`` over its ``present`` columns (see ``present_in`` and
    ``present_now``); None for a table that is not present."""
    parts = []
    kept = list(present)
    for index, table in enumerate(kept):
        columns = present[table]
        row = f"ROW({', '.join(quote_ident(c) for c in columns)})::text" if columns else "''"
        values = [f"coalesce({quote_ident(c)}::text, {quote_literal(NULL_TEXT)})" for c in columns]
        sums = ", ".join(f"coalesce(sum({_hash(value)}), 0)::text" for value in values)
        parts.append(
            f"SELECT {index}, count(*), coalesce(sum({_hash(row)}), 0)::text, "
            f"ARRAY[{sums}]::text[] FROM {quote_table(table)}"
        )
    found: dict[str, TableContent | None] = dict.fromkeys(tables)
    if parts:
        for index, rows, digest, sums in conn.execute(" UNION ALL ".join(parts)).fetchall():
            table = kept[index]
            found[table] = TableContent(rows, digest, dict(zip(present[table], sums, strict=True)))
    return found


def content_changes(
    before: dict[str, TableContent | None], after: dict[str, TableContent | None]
) -> list[str]:
    """What changed in each table between two readings, e.g. ``public.tasks: 300 rows before,
    0 after``; empty when every table holds what it held."""
    return [f"{table}: {change}" for table, change in table_changes(before, after).items()]


def table_changes(
    before: dict[str, TableContent | None], after: dict[str, TableContent | None]
) -> dict[str, str]:
    """What changed, per table that changed."""
    changes = {}
    for table, old in before.items():
        new = after.get(table)
        if old is None or old == new:
            continue
        if new is None:
            changes[table] = f"the table is gone ({old.rows} rows before)"
        elif new.rows != old.rows:
            changes[table] = f"{old.rows} rows before, {new.rows} after"
        else:
            changes[table] = _column_changes(old, new)
    return changes


class ContentWatch:
    """Watches a script (a migrate ``FileWatch``): reads the tables after each statement,
    inside the script's transaction, and keeps the first statement after which each table no
    longer holds what ``before`` says."""

    def __init__(
        self,
        conn: psycopg.Connection,
        tables: dict[str, list[str]],
        before: dict[str, TableContent | None],
    ) -> None:
        self.conn, self.tables, self.before = conn, tables, before
        self.first: dict[str, Statement] = {}

    @contextmanager
    def statement(self, statement: Statement) -> Iterator[None]:
        yield
        if len(self.first) == len(self.tables):
            return
        now = read_contents(self.conn, self.tables, present_now(self.conn, self.tables))
        for table in table_changes(self.before, now):
            self.first.setdefault(table, statement)

    def done(self) -> None:
        """Nothing to do after the commit."""


def _column_changes(old: TableContent, new: TableContent) -> str:
    gone = [c for c in old.columns if c not in new.columns]
    if gone:
        noun = "column" if len(gone) == 1 else "columns"
        return f"{noun} {', '.join(gone)} {'is' if len(gone) == 1 else 'are'} gone"
    changed = [c for c in old.columns if old.columns[c] != new.columns[c]]
    if not changed:
        return f"rows changed ({old.rows} rows before and after)"
    noun = "column" if len(changed) == 1 else "columns"
    return f"values of {noun} {', '.join(changed)} changed ({old.rows} rows before and after)"
