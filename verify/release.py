"""The release as the runbook spec defines it: its migration files, baseline and down scripts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deploy_gates.migrate import MigrationFile, MigrationLog, discover, up
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.catalog import qualified


def migration_files(runbook: Runbook) -> list[MigrationFile]:
    """Every migration file of the system, in order; empty when the spec has no migrations."""
    return discover(runbook.migrations.dir) if runbook.migrations else []


def bookkeeping_tables(runbook: Runbook) -> frozenset[str]:
    """The ledger table: bookkeeping, not schema, so fingerprints and lock files leave it out."""
    return frozenset({qualified(runbook.migrations.ledger.table)}) if runbook.migrations \
        else frozenset()


def split_at_baseline(runbook: Runbook) -> tuple[list[MigrationFile], list[MigrationFile]]:
    """(files already deployed before this release, files this release adds)."""
    files = migration_files(runbook)
    baseline = runbook.migrations.baseline if runbook.migrations else None
    if baseline is None:
        return [], files
    cut = [f.name for f in files].index(baseline) + 1
    return files[:cut], files[cut:]


def deploy_release(
    dsn: str, runbook: Runbook, report_dir: Path, *, label: str, scrub: Callable[[str], str]
) -> list[str]:
    """Apply the system's pending migrations, logging to the report directory; their names."""
    if runbook.migrations is None:
        return []
    log = MigrationLog.create(report_dir, label, scrub)
    applied = up(dsn, migration_files(runbook), ledger=runbook.migrations.ledger, log=log)
    return [a.name for a in applied]
