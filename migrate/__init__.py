"""Apply ordered SQL migration files to PostgreSQL with a ledger, safety checks and a lock."""

from __future__ import annotations

from migrate.apply import AppliedMigration, plan, up
from migrate.errors import MigrationError
from migrate.files import MigrationFile, discover, duplicate_versions
from migrate.lock import migration_lock
from migrate.log import MigrationLog
from migrate.statements import Statement, split_statements
from migrate.status import StatusEntry, status

__all__ = [
    "AppliedMigration",
    "MigrationError",
    "MigrationFile",
    "MigrationLog",
    "Statement",
    "StatusEntry",
    "discover",
    "duplicate_versions",
    "migration_lock",
    "plan",
    "split_statements",
    "status",
    "up",
]
