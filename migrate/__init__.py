"""Apply ordered SQL migration files to PostgreSQL with a ledger, safety checks and a lock."""

from __future__ import annotations

from deploy_gates.migrate.apply import AppliedMigration, plan, up
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.files import MigrationFile, discover, duplicate_versions
from deploy_gates.migrate.lock import migration_lock
from deploy_gates.migrate.log import MigrationLog
from deploy_gates.migrate.statements import Statement, split_statements
from deploy_gates.migrate.status import StatusEntry, status

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
