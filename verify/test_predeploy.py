"""Pre-deploy lint of the release's migrations: every file named as its layout wants, an
unambiguous order, and a down script for each."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.targets import database_spec, parametrize_per_database
from deploy_gates.migrate import Discovery, Migration
from deploy_gates.migrate.migration import down_script
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.outcome import require
from deploy_gates.verify.release import discovery, split_at_baseline

pytestmark = pytest.mark.predeploy
DOWN_HINTS = {
    "golang-migrate": "{m.name}.down.sql",
    "dbmate": "a '-- migrate:down' section in {m.name}",
    "flyway": "an undo file U{m.version}__<description>.sql",
    "sqitch": "revert/{m.name}.sql",
    "liquibase-sql": "--rollback lines in changeset {m.name}",
}


def _release(spec: Runbook) -> list[tuple[str, Migration]]:
    return [(m.name, m) for m in split_at_baseline(spec)[1]] if spec.migrations else []


def _warnings(spec: Runbook) -> list[tuple[str, str]]:
    found = discovery(spec)
    return found.warnings if found else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "release_migration" in metafunc.fixturenames:
        parametrize_per_database(metafunc, "release_migration", _release)
    elif "allowed_duplicate" in metafunc.fixturenames:
        parametrize_per_database(metafunc, "allowed_duplicate", _warnings)
    elif "found" in metafunc.fixturenames:
        parametrize_per_database(metafunc, None)


@pytest.fixture
def found(runbook: Runbook, database: str, evidence: GateEvidence) -> Discovery:
    """The migrations folder as read, with the layout (and how it was chosen) as evidence."""
    read = discovery(database_spec(runbook, database))
    if read is None:
        pytest.skip("the runbook spec names no migrations")
    evidence.add("migrations", f"{read.folder}: {read.describe()}, "
                 f"{len(read.migrations)} migration(s)")
    return read


def test_migration_files(found: Discovery) -> None:
    count = len(found.problems)
    require(found.problems and f"expected every file of {found.folder} to be a {found.layout} "
            f"migration in an unambiguous order; found {count} problem(s): "
            + "; ".join(found.problems))


@pytest.mark.severity("advisory")
def test_duplicate_versions(allowed_duplicate: str, database: str) -> None:
    """A warning per version several files share, when the spec allows it (``database``: of a
    system with several, the one it is in)."""
    require(f"expected one migration per version; found {allowed_duplicate}")


def test_down_script(release_migration: Migration, runbook: Runbook, database: str) -> None:
    m, down_dir = release_migration, database_spec(runbook, database).migrations.down_dir
    if m.layout == "numbered":
        require(down_dir is None and "expected migrations.down_dir in the runbook spec; found none")
        require(down_script(m, down_dir) is None
                and f"expected down script {down_dir / m.name}; found: it does not exist")
        return
    require(down_script(m, None) is None
            and f"expected {DOWN_HINTS[m.layout].format(m=m)}; found: none")
