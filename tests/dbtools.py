"""Small helpers the suite's own tests share: migration files on disk, queries, ledger rows."""

from __future__ import annotations

from pathlib import Path

import psycopg


def write(directory: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (name -> SQL) into ``directory`` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def query(dsn: str, text: str) -> list[tuple]:
    """All rows of ``text`` on ``dsn``."""
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        return conn.execute(text).fetchall()  # type: ignore[arg-type]


def tables(dsn: str) -> set[str]:
    """Table names in the public schema."""
    return {r[0] for r in query(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def ledger(dsn: str) -> list[str]:
    """Ledger versions in version order."""
    return [r[0] for r in query(dsn, "SELECT version FROM schema_migrations ORDER BY version")]


def write_counters(dsn: str) -> tuple:
    """Rows written to any table and transactions that wrote, as the statistics system sees them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT pg_stat_clear_snapshot()")
        tables = conn.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
        ).fetchone()[0]
        ledger = conn.execute("SELECT count(*), max(applied_at) FROM schema_migrations").fetchone()
        relations = conn.execute("SELECT count(*) FROM pg_class").fetchone()[0]
    return tables, ledger, relations
