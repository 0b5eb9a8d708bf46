"""The release rehearsal, in order: baseline, backup, up, present, down, gone, up again, present.

Runs only on ephemeral targets. Each action step that fails skips the steps after it, naming it.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.fixtures.ephemeral.server import providers_with
from deploy_gates.fixtures.targets import Target, file_label, known_runbook, root_cause
from deploy_gates.migrate import Migration, MigrationError, up
from deploy_gates.migrate.apply import run_options
from deploy_gates.redact import Redactor
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.rollback import backup, down, restore
from deploy_gates.settings import Settings
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.catalog import Catalog, diff
from deploy_gates.verify.expectations import Expected
from deploy_gates.verify.outcome import fail_gate, require
from deploy_gates.verify.rehearsal import Rehearsal, layout_of_spec, release_expectations
from deploy_gates.verify.release import migration_files
from deploy_gates.verify.verify_scripts import verified, verify_problem

pytestmark = [pytest.mark.rehearsal, pytest.mark.destructive]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "expected" in metafunc.fixturenames:
        items = release_expectations(known_runbook(metafunc.config))
        metafunc.parametrize("expected", items, ids=[e.id for e in items])
    if "verified_migration" in metafunc.fixturenames:
        found = verified(migration_files(known_runbook(metafunc.config)))
        metafunc.parametrize("verified_migration", found, ids=[m.name for m in found])


@pytest.fixture(scope="module")
def rehearsal(
    request: pytest.FixtureRequest,
    ephemeral_server: Server,
    runbook: Runbook,
    target: Target,
    deploy_settings: Settings,
    redactor: Redactor,
) -> Iterator[Rehearsal]:
    """A fresh database on the throwaway server, and the release's plan."""
    if runbook.migrations is None:
        pytest.skip("the runbook spec has no migrations to rehearse")
    dsn = ephemeral_server.create_database("rehearsal")
    try:
        plan = Rehearsal.plan(dsn, runbook, deploy_settings.report_dir,
                              file_label(request.config, target.name), redactor)
    except MigrationError as exc:
        problem = str(exc)
    else:
        yield plan
        return
    root_cause(request.config, problem)


@pytest.mark.order(1)
def test_provider_has_extensions(
    rehearsal: Rehearsal, ephemeral_server: Server, evidence: GateEvidence
) -> None:
    evidence.add("server", f"{ephemeral_server.provider} provider, PostgreSQL "
                 f"{ephemeral_server.version()} ({ephemeral_server.description})")
    missing = sorted(rehearsal.required_extensions() - ephemeral_server.available_extensions())
    if missing:
        rehearsal.broken = "provider has extensions"
        fail_gate(
            "; ".join(
                f"extension {name} is needed but not available on the {ephemeral_server.provider} "
                f"provider (PostgreSQL {ephemeral_server.version()}); {providers_with(name)}"
                for name in missing
            )
        )


@pytest.mark.order(2)
def test_baseline(rehearsal: Rehearsal) -> None:
    """Deploy what precedes the release and fingerprint the schema the release will meet."""
    files = rehearsal.baseline_files
    if files:
        rehearsal.step(
            "baseline",
            lambda: up(
                rehearsal.dsn,
                files,
                log=rehearsal.log("baseline"),
                ledger=rehearsal.runbook.migrations.ledger,
                echo=print,
                **run_options(rehearsal.runbook.migrations),
            ),
        )
    rehearsal.baseline_fingerprint = rehearsal.catalog("baseline").fingerprint()


@pytest.mark.order(3)
def test_backup(rehearsal: Rehearsal, tmp_path_factory: pytest.TempPathFactory) -> None:
    """pg_dump -Fc of the baseline, checked with pg_restore --list."""
    path = tmp_path_factory.mktemp("backup") / "baseline.dump"
    info = rehearsal.step("backup", lambda: backup(rehearsal.dsn, path))
    rehearsal.backup_path = info.path


@pytest.mark.order(4)
def test_migrate_up(rehearsal: Rehearsal) -> None:
    _apply_release(rehearsal, "migrate up")


@pytest.mark.order(5)
def test_present_after_up(
    rehearsal: Rehearsal, expected: Expected, evidence: GateEvidence
) -> None:
    rehearsal.require("present after up")
    require(expected.problem_if_missing(_seen(rehearsal, "up", expected, evidence)))


@pytest.mark.order(5)
def test_verified_after_up(rehearsal: Rehearsal, verified_migration: Migration) -> None:
    """The migration's own verify script passes on the release."""
    rehearsal.require("verified after up")
    with psycopg.connect(rehearsal.dsn, autocommit=True, connect_timeout=10) as conn:
        require(verify_problem(conn, verified_migration))


@pytest.mark.order(6)
def test_migrate_down(rehearsal: Rehearsal) -> None:
    migrations = rehearsal.runbook.migrations
    if migrations.down_dir is None and layout_of_spec(rehearsal.runbook) == "numbered":
        rehearsal.broken = "migrate down"
        fail_gate("migrate down: the runbook spec names no migrations.down_dir")
    rehearsal.step(
        "migrate down",
        lambda: down(
            rehearsal.dsn,
            rehearsal.files,
            migrations.down_dir,
            to=rehearsal.baseline_name,
            ledger=migrations.ledger,
            log=rehearsal.log("down"),
            echo=print,
        ),
    )


@pytest.mark.order(7)
def test_absent_after_down(
    rehearsal: Rehearsal, expected: Expected, evidence: GateEvidence
) -> None:
    """Gone after rollback; an object the baseline already had (the release replaced it) is
    restored to its baseline definition instead."""
    rehearsal.require("absent after down")
    baseline, after = rehearsal.catalog("baseline"), _seen(rehearsal, "down", expected, evidence)
    if expected.where(baseline) is not None:
        evidence.add("baseline", f"{expected.describe()} existed before the release: it must be "
                     "restored to its baseline definition")
    require(expected.problem_if_not_restored(baseline, after))


@pytest.mark.order(8)
def test_schema_restored(rehearsal: Rehearsal) -> None:
    """After rollback the schema equals the baseline, object for object."""
    rehearsal.require("schema restored")
    after = rehearsal.catalog("down").fingerprint()
    changes = diff(rehearsal.baseline_fingerprint, after)
    require(
        changes
        and "expected the schema after rollback to equal the baseline; found " + "; ".join(changes)
    )


@pytest.mark.order(9)
def test_migrate_up_again(rehearsal: Rehearsal) -> None:
    _apply_release(rehearsal, "migrate up again")


@pytest.mark.order(10)
def test_present_after_reapply(
    rehearsal: Rehearsal, expected: Expected, evidence: GateEvidence
) -> None:
    rehearsal.require("present after re-apply")
    require(expected.problem_if_missing(_seen(rehearsal, "up again", expected, evidence)))


@pytest.mark.order(11)
def test_backup_restores_baseline(rehearsal: Rehearsal, ephemeral_server: Server) -> None:
    """The backup taken before the release restores to the baseline schema."""
    rehearsal.require("backup restores baseline")
    target_dsn = ephemeral_server.create_database("restored")
    rehearsal.step("restore backup", lambda: restore(rehearsal.backup_path, target_dsn))
    restored = rehearsal.catalog("restored", target_dsn).fingerprint()
    changes = diff(rehearsal.baseline_fingerprint, restored)
    require(
        changes
        and "expected the restored backup to equal the baseline; found " + "; ".join(changes)
    )


def _apply_release(rehearsal: Rehearsal, name: str) -> None:
    rehearsal.step(
        name,
        lambda: up(
            rehearsal.dsn,
            rehearsal.files,
            ledger=rehearsal.runbook.migrations.ledger,
            log=rehearsal.log(name.replace(" ", "-")),
            echo=print,
            **run_options(rehearsal.runbook.migrations),
        ),
    )


def _seen(rehearsal: Rehearsal, phase: str, expected: Expected, evidence: GateEvidence) -> Catalog:
    """The schema after ``phase``, with what it says of ``expected`` recorded as evidence."""
    catalog = rehearsal.catalog(phase)
    evidence.extend(expected.evidence(catalog))
    return catalog
