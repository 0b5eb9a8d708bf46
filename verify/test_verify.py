"""Each migration's own verify script (sqitch's verify/), as a gate of the deployed release: read
only on live targets (one transaction, always rolled back)."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.targets import Target, connect, parametrize_per_database
from deploy_gates.migrate import Migration
from deploy_gates.verify.outcome import require
from deploy_gates.verify.release import migration_files
from deploy_gates.verify.verify_scripts import verified, verify_problem

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "verified_migration" in metafunc.fixturenames:
        parametrize_per_database(metafunc, "verified_migration", lambda spec: [
            (m.name, m) for m in verified(migration_files(spec))
        ])


def test_verify_script(
    verified_migration: Migration, target_dsns: dict[str, str], database: str, target: Target
) -> None:
    with connect(target_dsns[database], target) as conn:
        require(verify_problem(conn, verified_migration))
