"""Drift gates: the live schema against the release's lock file. Every object the release
creates or changes is there with the same definition, what it drops is gone, and objects the lock
file does not know on the release's tables are named (advisory unless the spec says otherwise).
One catalog snapshot serves them all; a system with several databases has each checked against
its own entry of the lock file (``test_release_object[users/trigger:...]``)."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.lockfile import parametrize_per_lock
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.verify.catalog import Catalog
from deploy_gates.verify.definitions import Definition, display, object_id
from deploy_gates.verify.drift import (
    drift_evidence,
    drift_problem,
    dropped_problem,
    release_tables,
    unknown_objects,
)
from deploy_gates.verify.lockfile import Lock
from deploy_gates.verify.outcome import require

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    params = {
        "release_object": lambda lock: [(object_id(k), k) for k in sorted(lock.objects)],
        "dropped_object": lambda lock: [(object_id(k), k) for k in lock.dropped],
        "release_table": lambda lock: [(display(k), k) for k in release_tables(lock)],
    }
    for name, values_for in params.items():
        if name in metafunc.fixturenames:
            parametrize_per_lock(metafunc, name, values_for)


def test_release_object(
    release_object: str, lock: Lock, schema_objects: dict[str, Definition],
    catalogs: dict[str, Catalog], database: str, evidence: GateEvidence,
) -> None:
    want = lock.objects[release_object]
    evidence.extend(drift_evidence(catalogs[database], release_object, want, schema_objects))
    require(drift_problem(lock, release_object, schema_objects))


def test_dropped_object(
    dropped_object: str, lock: Lock, schema_objects: dict[str, Definition],
    catalogs: dict[str, Catalog], database: str, evidence: GateEvidence,
) -> None:
    evidence.extend(drift_evidence(catalogs[database], dropped_object, None, schema_objects))
    require(dropped_problem(lock, dropped_object, schema_objects))


@pytest.mark.severity("advisory", default=True)
def test_unknown_objects(
    release_table: str, lock: Lock, schema_objects: dict[str, Definition], evidence: GateEvidence
) -> None:
    unknown = unknown_objects(lock, release_table, schema_objects)
    evidence.add("not in the lock file", "\n".join(unknown) or "none")
    require(unknown and f"expected on table {display(release_table)} only objects the lock file "
            f"knows; found: {'; '.join(unknown)}")
