"""Pre-deploy lint of the release's migrations: unambiguous order, a down script for each, and
squawk's findings (one gate per finding, one per clean file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_gates.fixtures.lockfile import known_lock
from deploy_gates.fixtures.targets import known_runbook
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.settings import Settings, settings_key
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.lockfile import Lock, lock_path
from deploy_gates.verify.migration_lint import missing_down_script, version_clash
from deploy_gates.verify.outcome import fail_gate, require
from deploy_gates.verify.release import split_at_baseline
from deploy_gates.verify.squawk import LintGate, lint_gates, squawk_report

pytestmark = pytest.mark.predeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "release_migration" in metafunc.fixturenames:
        runbook = known_runbook(metafunc.config)
        names = [f.name for f in split_at_baseline(runbook)[1]] if runbook.migrations else []
        metafunc.parametrize("release_migration", names, ids=names)
    if "lock_file" in metafunc.fixturenames:
        settings: Settings = metafunc.config.stash[settings_key]
        path = lock_path(settings.runbook)
        found = [path] if known_lock(metafunc.config) else []
        metafunc.parametrize("lock_file", found, ids=[p.name for p in found])
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
    require(version_clash(runbook))


def test_down_script(release_migration: str, runbook: Runbook) -> None:
    require(missing_down_script(runbook, release_migration))


def test_lock_current(lock_file: Path, lock: Lock, runbook: Runbook,
                      deploy_settings: Settings) -> None:
    """The lock file was written for these migrations: CI rewrites it when they change."""
    stale = lock.stale(runbook)
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
