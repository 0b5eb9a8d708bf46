"""Rollback gates (``-m rollback``): a live target after a real rollback. Every object of the
release is gone (or as the baseline had it, when the release only changed it), the ledger no
longer lists the release's migrations, and the schema equals the baseline the lock file recorded.
Read-only, from one catalog snapshot; collected only when ``-m`` names ``rollback``."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.lockfile import parametrize_per_lock
from deploy_gates.fixtures.targets import Target, parametrize_per_database
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.settings import Settings, settings_key
from deploy_gates.verify.catalog import Catalog
from deploy_gates.verify.definitions import Definition, object_id
from deploy_gates.verify.drift import (
    baseline_differences,
    drift_evidence,
    rollback_objects,
    rollback_problem,
)
from deploy_gates.verify.expectations import Expected
from deploy_gates.verify.lockfile import Lock, lock_path
from deploy_gates.verify.outcome import require
from deploy_gates.verify.rehearsal import release_expectations

pytestmark = pytest.mark.rollback


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "reverted" in metafunc.fixturenames:
        parametrize_per_database(metafunc, "reverted", lambda spec: [
            (e.id, e) for e in release_expectations(spec)])
    if "touched_object" in metafunc.fixturenames:
        parametrize_per_lock(metafunc, "touched_object",
                             lambda lock: [(object_id(k), k) for k in rollback_objects(lock)])
    if "lock_file" in metafunc.fixturenames:
        settings: Settings = metafunc.config.stash[settings_key]
        name = lock_path(settings.runbook).name
        parametrize_per_lock(metafunc, "lock_file", lambda lock: [(name, name)])


@pytest.fixture(autouse=True)
def live_only(target: Target) -> None:
    if target.ephemeral:
        pytest.skip("rollback gates check a live target after its rollback; on an ephemeral "
                    "target the rehearsal rolls back and checks (test_absent_after_down)")


def test_absent_after_rollback(
    reverted: Expected, catalogs: dict[str, Catalog], database: str, evidence: GateEvidence
) -> None:
    catalog = catalogs[database]
    evidence.extend(reverted.evidence(catalog))
    require(reverted.problem_if_present(catalog))


def test_rolled_back(
    touched_object: str, lock: Lock, schema_objects: dict[str, Definition],
    catalogs: dict[str, Catalog], database: str, evidence: GateEvidence,
) -> None:
    evidence.extend(drift_evidence(catalogs[database], touched_object,
                                   lock.baseline.get(touched_object), schema_objects))
    require(rollback_problem(lock, touched_object, schema_objects))


def test_schema_is_baseline(
    lock_file: str, lock: Lock, schema_objects: dict[str, Definition], evidence: GateEvidence
) -> None:
    changes = baseline_differences(lock, schema_objects)
    evidence.add(f"against the baseline of {lock_file}", "\n".join(changes) or "no difference")
    require(changes and "expected the schema after rollback to equal the baseline of the lock "
            f"file; found {'; '.join(changes)}")
