"""The team's own baseline data: seed SQL (run by psql, so COPY ... FROM stdin and plain
``pg_dump --data-only`` output work) or a ``pg_dump`` archive (restored by pg_restore)."""

from __future__ import annotations

from pathlib import Path

from deploy_gates.rollback.tools import run_tool


def load_seed(dsn: str, path: Path) -> None:
    """Load one seed file into ``dsn``; a failure is a MigrationError naming the file and line."""
    if path.suffix == ".sql":
        run_tool("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=terse",
                 "-f", str(path), dsn=dsn)
    else:
        run_tool("pg_restore", "--data-only", "--no-owner", "--exit-on-error",
                 "--single-transaction", str(path), dsn=dsn)
