"""Pre-deploy lint of the release's migrations: unambiguous order, a down script for each, and
squawk's findings (one gate per finding, one per clean file)."""

from __future__ import annotations

import pytest
from deploy_gates.fixtures.targets import known_runbook
from deploy_gates.migrate import duplicate_versions
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.outcome import fail_gate, require
from deploy_gates.verify.release import migration_files, split_at_baseline
from deploy_gates.verify.squawk import LintGate, lint_gates, squawk_report

pytestmark = pytest.mark.predeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "release_migration" in metafunc.fixturenames:
        runbook = known_runbook(metafunc.config)
        names = [f.name for f in split_at_baseline(runbook)[1]] if runbook.migrations else []
        metafunc.parametrize("release_migration", names, ids=names)
    if "squawk_gate" in metafunc.fixturenames:
        runbook = known_runbook(metafunc.config)
        mark = pytest.mark.severity(runbook.rehearsal.squawk.severity)
        items = lint_gates(squawk_report(metafunc.config, runbook))
        metafunc.parametrize(
            "squawk_gate", [pytest.param(item, id=item.id, marks=mark) for item in items]
        )


def test_migration_versions_unique(runbook: Runbook) -> None:
    if runbook.migrations is None:
        pytest.skip("the runbook spec names no migrations")
    clashes = duplicate_versions(migration_files(runbook))
    require(clashes and "expected one file per version number; found " + "; ".join(
        f"version {version} in {', '.join(names)}" for version, names in clashes
    ))


def test_down_script(release_migration: str, runbook: Runbook) -> None:
    down_dir = runbook.migrations.down_dir
    require(down_dir is None and "expected migrations.down_dir in the runbook spec; found none")
    require(not (down_dir / release_migration).is_file()
            and f"expected down script {down_dir / release_migration}; found: it does not exist")


def test_squawk(squawk_gate: LintGate, evidence: GateEvidence) -> None:
    """One of squawk's findings on a release file, or a release file it finds nothing in."""
    require(squawk_gate.error)
    if squawk_gate.finding:
        evidence.add("squawk", squawk_gate.finding.describe())
        fail_gate(squawk_gate.finding.describe())
    evidence.add("squawk", f"{squawk_gate.id}: no findings")
