"""Ledger gates: the release's migrations are recorded as applied, none pending, none failed."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.targets import Target, known_runbook
from deploy_gates.migrate import MigrationFile
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.catalog import Catalog
from deploy_gates.verify.outcome import fail_gate, require
from deploy_gates.verify.release import migration_files

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "newest" in metafunc.fixturenames:
        files = migration_files(known_runbook(metafunc.config))
        names = [files[-1].name] if files else []
        metafunc.parametrize("newest", names, ids=names)


@pytest.fixture
def ledger(request: pytest.FixtureRequest, runbook: Runbook, target: Target) -> dict[str, bool]:
    """The target's ledger: migration name -> succeeded (one per target in a run of several)."""
    if runbook.migrations is None:
        pytest.skip("the runbook spec names no migrations")
    catalog: Catalog = request.getfixturevalue("catalog")
    if catalog.ledger is None:
        fail_gate(catalog.ledger_problem)
    return catalog.ledger


@pytest.fixture
def files(runbook: Runbook) -> list[MigrationFile]:
    found = migration_files(runbook)
    if not found:
        pytest.skip("the runbook spec names no migrations")
    return found


def test_applied_through(newest: str, files: list[MigrationFile], ledger: dict[str, bool]) -> None:
    names = [f.name for f in files]
    missing = [name for name in names[: names.index(newest) + 1] if name not in ledger]
    require(
        missing
        and f"expected every migration through {newest} applied; found not recorded: "
        f"{', '.join(missing)}"
    )


def test_nothing_pending(files: list[MigrationFile], ledger: dict[str, bool]) -> None:
    names = {f.name for f in files}
    pending = [f.name for f in files if f.name not in ledger]
    unknown = sorted(name for name in ledger if name not in names)
    found = [f"pending: {', '.join(pending)}"] if pending else []
    found += [f"recorded but not in the release: {', '.join(unknown)}"] if unknown else []
    require(
        found
        and f"expected the ledger to match the release's migrations; found {'; '.join(found)}"
    )


def test_nothing_failed(ledger: dict[str, bool], runbook: Runbook) -> None:
    if runbook.migrations.ledger.success_column is None:
        pytest.skip("the spec's ledger has no success column")
    failed = sorted(name for name, ok in ledger.items() if not ok)
    require(failed and f"expected no failed migration; found failed: {', '.join(failed)}")


def test_ledger_checksums(
    files: list[MigrationFile], ledger: dict[str, bool], request: pytest.FixtureRequest
) -> None:
    """Drift: each applied migration's recorded checksum is its file's (as ``flyway validate``)."""
    recorded: dict[str, str | None] = request.getfixturevalue("catalog").ledger_checksums
    if not any(recorded.values()):
        pytest.skip("the ledger records no checksums")
    drifted = [f.name for f in files if recorded.get(f.name) not in (None, f.checksum)]
    require(drifted and "expected each applied migration to match its file; found checksum "
            f"drift: {', '.join(drifted)} changed since it was applied")
