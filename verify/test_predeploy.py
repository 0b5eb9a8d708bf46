"""Pre-deploy lint of the release's migrations: unambiguous order and a down script for each."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.targets import known_runbook
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.migration_lint import missing_down_script, version_clash
from deploy_gates.verify.outcome import require
from deploy_gates.verify.release import split_at_baseline

pytestmark = pytest.mark.predeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "release_migration" in metafunc.fixturenames:
        runbook = known_runbook(metafunc.config)
        names = [f.name for f in split_at_baseline(runbook)[1]] if runbook.migrations else []
        metafunc.parametrize("release_migration", names, ids=names)


def test_migration_versions_unique(runbook: Runbook) -> None:
    if runbook.migrations is None:
        pytest.skip("the runbook spec names no migrations")
    require(version_clash(runbook))


def test_down_script(release_migration: str, runbook: Runbook) -> None:
    require(missing_down_script(runbook, release_migration))
