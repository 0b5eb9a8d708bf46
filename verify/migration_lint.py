"""Pre-deploy lint of a release's migrations, without a database: one file per version number,
and a down script for each migration the release adds. The predeploy gates and ``deploy-gates
lint`` both ask these questions."""

from __future__ import annotations

from deploy_gates.migrate import duplicate_versions
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.release import migration_files, split_at_baseline


def version_clash(runbook: Runbook) -> str | None:
    """Why the migrations' order is ambiguous (two files share a version number), or None."""
    clashes = duplicate_versions(migration_files(runbook))
    if not clashes:
        return None
    return "expected one file per version number; found " + "; ".join(
        f"version {version} in {', '.join(names)}" for version, names in clashes
    )


def missing_down_script(runbook: Runbook, name: str) -> str | None:
    """Why the release migration ``name`` has no down script, or None."""
    down_dir = runbook.migrations.down_dir
    if down_dir is None:
        return "expected migrations.down_dir in the runbook spec; found none"
    if not (down_dir / name).is_file():
        return f"expected down script {down_dir / name}; found: it does not exist"
    return None


def lint(runbook: Runbook) -> list[str]:
    """Every problem of the spec's migrations (empty when there are none, or no migrations)."""
    if runbook.migrations is None:
        return []
    problems = [version_clash(runbook)]
    problems += [missing_down_script(runbook, f.name) for f in split_at_baseline(runbook)[1]]
    return list(dict.fromkeys(p for p in problems if p))
