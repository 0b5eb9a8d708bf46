"""Each migration's own verify script (sqitch's verify/), as a gate of the deployed release: read
only on live targets (one transaction, always rolled back)."""

from __future__ import annotations

import psycopg
import pytest

from deploy_gates.fixtures.targets import known_runbook
from deploy_gates.migrate import Migration
from deploy_gates.verify.outcome import require
from deploy_gates.verify.release import migration_files
from deploy_gates.verify.verify_scripts import verified, verify_problem

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "verified_migration" in metafunc.fixturenames:
        found = verified(migration_files(known_runbook(metafunc.config)))
        metafunc.parametrize("verified_migration", found, ids=[m.name for m in found])


def test_verify_script(verified_migration: Migration, db: psycopg.Connection) -> None:
    require(verify_problem(db, verified_migration))
