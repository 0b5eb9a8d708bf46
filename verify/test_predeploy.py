"""Pre-deploy lint of the release's migrations: every file named as its layout wants, an
unambiguous order, a down script for each, and squawk's findings (one gate per finding, one per
clean file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_gates.fixtures.lockfile import parametrize_per_lock
from deploy_gates.fixtures.targets import database_spec, known_runbook, parametrize_per_database
from deploy_gates.migrate import Discovery, Migration
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.settings import Settings, settings_key
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.lockfile import Lock, lock_path
from deploy_gates.verify.migration_lint import folder_problems, missing_down_script
from deploy_gates.verify.outcome import fail_gate, require
from deploy_gates.verify.release import discovery, split_at_baseline
from deploy_gates.verify.squawk import LintGate, lint_gates, squawk_report

pytestmark = pytest.mark.predeploy


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
    if "lock_file" in metafunc.fixturenames:
        settings: Settings = metafunc.config.stash[settings_key]
        path = lock_path(settings.runbook)
        parametrize_per_lock(metafunc, "lock_file", lambda lock: [(path.name, path)])
    if "squawk_gate" in metafunc.fixturenames:
        runbook = known_runbook(metafunc.config)
        mark = pytest.mark.severity(runbook.rehearsal.squawk.severity)
        items = lint_gates(squawk_report(metafunc.config, runbook))
        metafunc.parametrize(
            "squawk_gate", [pytest.param(item, id=item.id, marks=mark) for item in items]
        )


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
    require(folder_problems(found))


@pytest.mark.severity("advisory")
def test_duplicate_versions(allowed_duplicate: str, database: str) -> None:
    """A warning per version several files share, when the spec allows it (``database``: of a
    system with several, the one it is in)."""
    require(f"expected one migration per version; found {allowed_duplicate}")


def test_down_script(release_migration: Migration, runbook: Runbook, database: str) -> None:
    require(missing_down_script(database_spec(runbook, database), release_migration))


def test_lock_current(lock_file: Path, lock: Lock, runbook: Runbook, database: str,
                      deploy_settings: Settings) -> None:
    """The lock file was written for these migrations (of a system with several databases:
    the gate's database's entry for its migrations): CI rewrites it when they change."""
    stale = lock.stale(database_spec(runbook, database))
    require(stale and f"expected lock file {lock_file} to match the migrations; found "
            f"{'; '.join(stale)}; rewrite it: deploy-gates lock "
            f"--runbook {deploy_settings.runbook}")


def test_squawk(squawk_gate: LintGate, evidence: GateEvidence) -> None:
    """One of squawk's findings on a release file, or a release file it finds nothing in."""
    require(squawk_gate.error)
    if squawk_gate.finding:
        evidence.add("squawk", squawk_gate.finding.describe())
        fail_gate(squawk_gate.finding.describe())
    evidence.add("squawk", f"{squawk_gate.id}: no findings")
