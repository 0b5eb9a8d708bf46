"""Verified pg_dump backups and their restore."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.outputs import directory_problem
from deploy_gates.rollback.tools import run_tool

ARCHIVE_HEADER = "; Archive created at"


@dataclass(frozen=True)
class BackupInfo:
    """A backup file that pg_restore could read."""

    path: Path
    size_bytes: int
    toc_entries: int


def verify_backup(path: Path) -> BackupInfo:
    """Check ``path`` with ``pg_restore --list``: it must show the archive's TOC header."""
    listing = run_tool("pg_restore", "--list", str(path))
    if ARCHIVE_HEADER not in listing:
        raise MigrationError(f"pg_restore --list {path} shows no archive header; backup unusable")
    entries = sum(1 for line in listing.splitlines() if line.strip() and not line.startswith(";"))
    return BackupInfo(path, path.stat().st_size, entries)


def backup(dsn: str, path: Path) -> BackupInfo:
    """Dump the database of ``dsn`` to ``path`` (custom format) and verify the file."""
    if path.is_dir():
        raise MigrationError(f"backup {path}: a directory, not a file")
    problem = directory_problem(path.parent)
    if problem:
        raise MigrationError(f"backup {path}: {path.parent}: {problem}")
    run_tool("pg_dump", "--format=custom", "--file", str(path), dsn=dsn)
    return verify_backup(path)


def restore(path: Path, dsn: str) -> None:
    """Restore the backup at ``path`` into the database of ``dsn``, in one transaction.

    Meant for a freshly created empty database. ``--clean --if-exists`` also lets it replace
    the backup's objects in a database that has them, but objects the backup lacks stay.
    Ownership is not restored: objects belong to the connecting role.
    """
    if not path.is_file():
        raise MigrationError(f"backup {path} does not exist")
    run_tool(
        "pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
        "--exit-on-error", str(path), dsn=dsn,
    )
