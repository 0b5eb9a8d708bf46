"""Revert migrations with down scripts; back up and restore databases with pg_dump."""

from __future__ import annotations

from deploy_gates.rollback.backup import BackupInfo, backup, restore, verify_backup
from deploy_gates.rollback.down import down

__all__ = ["BackupInfo", "backup", "down", "restore", "verify_backup"]
