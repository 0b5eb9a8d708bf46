"""What the baseline tables hold: a row count and order-independent content hashes per table and
column, read in one statement, and the readable difference between two readings."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from deploy_gates.verify.catalog import Catalog

NULL_TEXT = "<null>"


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


def read_contents(
    conn: psycopg.Connection, tables: dict[str, list[str]], catalog: Catalog
) -> dict[str, TableContent | None]:
    """The content of each table (``schema.table -> columns``) over the columns it still has;
    None for a table ``catalog`` no longer has."""
    parts = []
    present = [t for t in tables if catalog.relations.get(t) == "table"]
    kept = {t: [c for c in tables[t] if f"{t}.{c}" in catalog.columns] for t in present}
    for index, table in enumerate(present):
        columns = kept[table]
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
            table = present[index]
            found[table] = TableContent(rows, digest, dict(zip(kept[table], sums, strict=True)))
    return found


def content_changes(
    before: dict[str, TableContent | None], after: dict[str, TableContent | None]
) -> list[str]:
    """What changed in each table between two readings, e.g. ``public.tasks: 300 rows before,
    0 after``; empty when every table holds what it held."""
    changes = []
    for table, old in before.items():
        new = after.get(table)
        if old is None or old == new:
            continue
        if new is None:
            changes.append(f"{table}: the table is gone ({old.rows} rows before)")
        elif new.rows != old.rows:
            changes.append(f"{table}: {old.rows} rows before, {new.rows} after")
        else:
            changes.append(f"{table}: {_column_changes(old, new)}")
    return changes


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
