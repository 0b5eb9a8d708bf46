"""The release as the runbook spec defines it: its migrations (in the spec's layout, detected when
it names none), baseline and down scripts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deploy_gates.migrate import Discovery, Migration, MigrationLog, scan, up
from deploy_gates.migrate.apply import run_options
from deploy_gates.migrate.ledger import FORMATS, format_of, layout_of
from deploy_gates.migrate.migration import find
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.catalog import qualified


def discovery(runbook: Runbook) -> Discovery | None:
    """The spec's migrations folder as read (with every problem found); None without one."""
    settings = runbook.migrations
    if settings is None:
        return None
    return scan(settings.dir, settings.layout,
                allow_duplicate_versions=settings.allow_duplicate_versions)


def bookkeeping_tables(runbook: Runbook) -> frozenset[str]:
    """The ledger table (in its layout's format): bookkeeping, not schema, so fingerprints and
    lock files leave it out."""
    if runbook.migrations is None:
        return frozenset()
    settings = runbook.migrations.ledger
    _, default = FORMATS[format_of(settings, layout_of(migration_files(runbook)))]
    return frozenset({qualified(settings.table or default)})


def migration_files(runbook: Runbook) -> list[Migration]:
    """Every migration of the system, in order (those that could be read, problems or not);
    empty when the spec has no migrations."""
    found = discovery(runbook)
    return found.migrations if found else []


def split_at_baseline(runbook: Runbook) -> tuple[list[Migration], list[Migration]]:
    """(migrations deployed before this release, migrations this release adds); repeatable
    migrations (Flyway's ``R__``) run with every deploy and count as the baseline's."""
    files = migration_files(runbook)
    baseline = runbook.migrations.baseline if runbook.migrations else None
    cut = 0 if baseline is None else (find(files, baseline) or 0) + 1
    before = files[:cut] + [f for f in files[cut:] if f.repeatable]
    return before, [f for f in files[cut:] if not f.repeatable]


def deploy_release(
    dsn: str, runbook: Runbook, report_dir: Path, *, label: str, scrub: Callable[[str], str],
    databases: dict[str, str] | None = None,
) -> list[str]:
    """Apply the (database's) pending migrations, logging to the report directory; their names.
    A migrations folder with problems is refused, naming them all. ``databases`` are what a
    psql ``\\c`` may name."""
    found = discovery(runbook)
    if found is None:
        return []
    migrations = found.require()
    log = MigrationLog.create(report_dir, label, scrub)
    applied = up(dsn, migrations, ledger=runbook.migrations.ledger, log=log,
                 databases=databases, **run_options(runbook.migrations))
    return [a.name for a in applied]
