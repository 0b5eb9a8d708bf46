"""Pre-deploy lint of a release's migrations, without a database: every file named as its layout
wants in an unambiguous order, and a down script for each migration the release adds. The
predeploy gates and ``deploy-gates lint`` both ask these questions."""

from __future__ import annotations

from deploy_gates.migrate import Discovery, Migration, MigrationError
from deploy_gates.migrate.migration import down_script
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.release import discovery, split_at_baseline

DOWN_HINTS = {
    "golang-migrate": "{m.name}.down.sql",
    "dbmate": "a '-- migrate:down' section in {m.name}",
    "flyway": "an undo file U{m.version}__<description>.sql",
    "sqitch": "revert/{m.name}.sql",
    "liquibase-sql": "--rollback lines in changeset {m.name}",
}


def folder_problems(found: Discovery) -> str | None:
    """Why the migrations folder is not one layout's migrations in an unambiguous order, or None."""
    if not found.problems:
        return None
    return (f"expected every file of {found.folder} to be a {found.layout} migration in an "
            f"unambiguous order; found {len(found.problems)} problem(s): "
            + "; ".join(found.problems))


def missing_down_script(runbook: Runbook, migration: Migration) -> str | None:
    """Why the release migration has no down script, or None (``runbook``: the spec as it
    applies to the migration's database); a down script that cannot be read says why."""
    m, down_dir = migration, runbook.migrations.down_dir
    if m.layout != "numbered":
        if down_script(m, None) is None:
            return f"expected {DOWN_HINTS[m.layout].format(m=m)}; found: none"
        return None
    if down_dir is None:
        return "expected migrations.down_dir in the runbook spec; found none"
    try:
        found = down_script(m, down_dir)
    except MigrationError as exc:
        return str(exc)
    if found is None:
        return f"expected down script {down_dir / m.name}; found: it does not exist"
    return None


def lint(runbook: Runbook) -> list[str]:
    """Every problem of the spec's migrations, of each database (empty when there are none)."""
    problems: list[str | None] = []
    for key, spec in runbook.per_database():
        found = discovery(spec)
        if found is None:
            continue
        prefix = f"{key}: " if key else ""
        problems += [prefix + p for p in [folder_problems(found)] if p]
        problems += [prefix + p for m in split_at_baseline(spec)[1]
                     if (p := missing_down_script(spec, m))]
    return list(dict.fromkeys(p for p in problems if p))
