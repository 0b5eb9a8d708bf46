"""Apply ordered SQL migrations, laid out as each tool lays them out, to PostgreSQL with a ledger,
safety checks and a lock."""

from __future__ import annotations

from deploy_gates.migrate.apply import AppliedMigration, plan, up
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.layouts import Discovery, discover, scan
from deploy_gates.migrate.lock import migration_lock
from deploy_gates.migrate.log import MigrationLog
from deploy_gates.migrate.migration import Migration, Script
from deploy_gates.migrate.statements import Statement, split_statements
from deploy_gates.migrate.status import StatusEntry, status

__all__ = [
    "AppliedMigration",
    "Discovery",
    "Migration",
    "MigrationError",
    "MigrationLog",
    "Script",
    "Statement",
    "StatusEntry",
    "discover",
    "migration_lock",
    "plan",
    "scan",
    "split_statements",
    "status",
    "up",
]
