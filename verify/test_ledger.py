"""Ledger gates: the release's migrations are recorded as applied, none pending, none failed."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.targets import Target, database_spec, parametrize_per_database
from deploy_gates.migrate import Migration
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.catalog import Catalog
from deploy_gates.verify.outcome import fail_gate, require
from deploy_gates.verify.release import migration_files

pytestmark = pytest.mark.postdeploy


def _newest(spec: Runbook) -> list[tuple[str, str]]:
    files = [f for f in migration_files(spec) if not f.repeatable]
    return [(files[-1].name, files[-1].name)] if files else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "newest" in metafunc.fixturenames:
        parametrize_per_database(metafunc, "newest", _newest)
    elif "ledger_catalog" in metafunc.fixturenames:
        parametrize_per_database(metafunc, None)


@pytest.fixture
def ledger_catalog(
    request: pytest.FixtureRequest, runbook: Runbook, target: Target, database: str
) -> Catalog:
    """The target's catalog with its ledger read (one per target in a run of several, one per
    database of a system with several)."""
    if database_spec(runbook, database).migrations is None:
        pytest.skip("the runbook spec names no migrations")
    catalog: Catalog = request.getfixturevalue("catalogs")[database]
    if catalog.ledger is None:
        fail_gate(catalog.ledger_problem)
    return catalog


@pytest.fixture
def ledger(ledger_catalog: Catalog) -> dict[str, bool | None]:
    """The target's ledger: migration name -> succeeded (None: not recorded)."""
    return ledger_catalog.ledger


@pytest.fixture
def files(runbook: Runbook, database: str) -> list[Migration]:
    """The release's migrations as read (a folder's problems are the lint gate's to name)."""
    found = migration_files(database_spec(runbook, database))
    if not found:
        pytest.skip("the runbook spec names no migrations")
    return found


def test_applied_through(newest: str, files: list[Migration], ledger: dict[str, bool]) -> None:
    names = [f.name for f in files if not f.repeatable]
    missing = [name for name in names[: names.index(newest) + 1] if name not in ledger]
    require(
        missing
        and f"expected every migration through {newest} applied; found not recorded: "
        f"{', '.join(missing)}"
    )


def test_nothing_pending(files: list[Migration], ledger: dict[str, bool]) -> None:
    names = {f.name for f in files}
    pending = [f.name for f in files if f.name not in ledger]
    unknown = sorted(name for name in ledger if name not in names)
    found = [f"pending: {', '.join(pending)}"] if pending else []
    found += [f"recorded but not in the release: {', '.join(unknown)}"] if unknown else []
    require(
        found
        and f"expected the ledger to match the release's migrations; found {'; '.join(found)}"
    )


def test_nothing_failed(ledger_catalog: Catalog) -> None:
    table = ledger_catalog.ledger_table
    if not ledger_catalog.ledger_records_failures:
        pytest.skip(f"cannot tell: the {table.format} ledger {table} does not record failed "
                    "migrations (no success column)")
    failed = sorted(name for name, ok in ledger_catalog.ledger.items() if ok is False)
    require(failed and f"expected no failed migration; found failed: {', '.join(failed)}")


def test_ledger_checksums(
    files: list[Migration], ledger: dict[str, bool], request: pytest.FixtureRequest
) -> None:
    """Drift: each applied migration's recorded checksum is its file's (as ``flyway validate``);
    a repeatable one that changed is to be re-applied, not drift."""
    recorded: dict[str, str | None] = request.getfixturevalue("catalog").ledger_checksums
    if not any(recorded.values()):
        pytest.skip("the ledger records no checksums")
    drifted = [f.title for f in files
               if not f.repeatable and recorded.get(f.name) not in (None, f.checksum)]
    require(drifted and "expected each applied migration to match its file; found checksum "
            f"drift: {', '.join(drifted)} changed since it was applied")
