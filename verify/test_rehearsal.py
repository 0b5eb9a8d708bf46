"""The release rehearsal, in order: baseline, backup, up, present, down, gone, up again, present.

Runs only on ephemeral targets. Each action step that fails skips the steps after it, naming it.
A system with several databases has them all created first on the throwaway server (so that
they can reach each other), and each step runs on each database in the spec's order (the
rollback in reverse).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.fixtures.ephemeral.server import providers_with
from deploy_gates.fixtures.targets import (
    Target,
    file_label,
    parametrize_per_database,
    root_cause,
)
from deploy_gates.migrate import Migration, MigrationError, up
from deploy_gates.migrate.apply import run_options
from deploy_gates.redact import Redactor
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.rollback import backup, down, restore
from deploy_gates.settings import Settings
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.catalog import Catalog, diff
from deploy_gates.verify.databases import connect_names, create_databases
from deploy_gates.verify.expectations import Expected
from deploy_gates.verify.outcome import fail_gate, require
from deploy_gates.verify.rehearsal import (
    Rehearsal,
    Rehearsals,
    layout_of_spec,
    release_expectations,
)
from deploy_gates.verify.release import migration_files
from deploy_gates.verify.verify_scripts import verified, verify_problem

pytestmark = [pytest.mark.rehearsal, pytest.mark.destructive]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "expected" in metafunc.fixturenames:
        parametrize_per_database(metafunc, "expected", lambda spec: [
            (e.id, e) for e in release_expectations(spec)
        ])
    if "verified_migration" in metafunc.fixturenames:
        parametrize_per_database(metafunc, "verified_migration", lambda spec: [
            (m.name, m) for m in verified(migration_files(spec))
        ])


@pytest.fixture(scope="module")
def rehearsal(
    request: pytest.FixtureRequest,
    ephemeral_server: Server,
    runbook: Runbook,
    target: Target,
    deploy_settings: Settings,
    redactor: Redactor,
) -> Iterator[Rehearsals]:
    """Fresh databases on the throwaway server (one per database of the system), and the
    release's plan for each."""
    specs = runbook.per_database()
    if all(spec.migrations is None for _, spec in specs):
        pytest.skip("the runbook spec has no migrations to rehearse")
    try:
        dsns = create_databases(ephemeral_server, runbook, "rehearsal")
        names = connect_names(runbook, dsns)
        label = file_label(request.config, target.name)
        plan = Rehearsals([
            Rehearsal.plan(dsns[key], spec, deploy_settings.report_dir, label, redactor, key,
                           names)
            for key, spec in specs if spec.migrations is not None
        ])
    except (MigrationError, psycopg.Error) as exc:
        problem = str(exc)
    else:
        yield plan
        return
    root_cause(request.config, problem)


@pytest.mark.order(1)
def test_provider_has_extensions(
    rehearsal: Rehearsals, ephemeral_server: Server, evidence: GateEvidence
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


def _baseline(member: Rehearsal) -> None:
    if member.baseline_files:
        up(member.dsn, member.baseline_files, log=member.log("baseline"),
           ledger=member.runbook.migrations.ledger, echo=print, databases=member.databases,
           **run_options(member.runbook.migrations))
    member.baseline_fingerprint = member.catalog("baseline").fingerprint()


@pytest.mark.order(2)
def test_baseline(rehearsal: Rehearsals) -> None:
    """Deploy what precedes the release and fingerprint the schema the release will meet."""
    rehearsal.step("baseline", _baseline)


@pytest.mark.order(3)
def test_backup(rehearsal: Rehearsals, tmp_path_factory: pytest.TempPathFactory) -> None:
    """pg_dump -Fc of the baseline, checked with pg_restore --list."""
    folder = tmp_path_factory.mktemp("backup")

    def take(member: Rehearsal) -> None:
        path = folder / f"baseline{'-' + member.key if member.key else ''}.dump"
        member.backup_path = backup(member.dsn, path).path

    rehearsal.step("backup", take)


@pytest.mark.order(4)
def test_migrate_up(rehearsal: Rehearsals) -> None:
    _apply_release(rehearsal, "migrate up")


@pytest.mark.order(5)
def test_present_after_up(
    rehearsal: Rehearsals, expected: Expected, database: str, evidence: GateEvidence
) -> None:
    rehearsal.require("present after up")
    seen = _seen(rehearsal.member(database), "up", expected, evidence)
    require(expected.problem_if_missing(seen))


@pytest.mark.order(5)
def test_verified_after_up(
    rehearsal: Rehearsals, verified_migration: Migration, database: str
) -> None:
    """The migration's own verify script passes on the release."""
    rehearsal.require("verified after up")
    dsn = rehearsal.member(database).dsn
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        require(verify_problem(conn, verified_migration))


def _down(member: Rehearsal) -> None:
    migrations = member.runbook.migrations
    if migrations.down_dir is None and layout_of_spec(member.runbook) == "numbered":
        raise MigrationError("the runbook spec names no migrations.down_dir")
    down(member.dsn, member.files, migrations.down_dir, to=member.baseline_name,
         ledger=migrations.ledger, log=member.log("down"), echo=print)


@pytest.mark.order(6)
def test_migrate_down(rehearsal: Rehearsals) -> None:
    rehearsal.step("migrate down", _down, reverse=True)


@pytest.mark.order(7)
def test_absent_after_down(
    rehearsal: Rehearsals, expected: Expected, database: str, evidence: GateEvidence
) -> None:
    """Gone after rollback; an object the baseline already had (the release replaced it) is
    restored to its baseline definition instead."""
    rehearsal.require("absent after down")
    member = rehearsal.member(database)
    baseline, after = member.catalog("baseline"), _seen(member, "down", expected, evidence)
    if expected.where(baseline) is not None:
        evidence.add("baseline", f"{expected.describe()} existed before the release: it must be "
                     "restored to its baseline definition")
    require(expected.problem_if_not_restored(baseline, after))


def _changes(rehearsal: Rehearsals, phase: str, dsns: dict[str, str] | None = None) -> list[str]:
    """Every difference between each database's baseline and its schema after ``phase``."""
    found = []
    for member in rehearsal.members:
        dsn = (dsns or {}).get(member.key)
        after = member.catalog(phase, dsn).fingerprint()
        prefix = f"{member.key}: " if member.key else ""
        found += [prefix + change for change in diff(member.baseline_fingerprint, after)]
    return found


@pytest.mark.order(8)
def test_schema_restored(rehearsal: Rehearsals) -> None:
    """After rollback the schema equals the baseline, object for object."""
    rehearsal.require("schema restored")
    changes = _changes(rehearsal, "down")
    require(
        changes
        and "expected the schema after rollback to equal the baseline; found " + "; ".join(changes)
    )


@pytest.mark.order(9)
def test_migrate_up_again(rehearsal: Rehearsals) -> None:
    _apply_release(rehearsal, "migrate up again")


@pytest.mark.order(10)
def test_present_after_reapply(
    rehearsal: Rehearsals, expected: Expected, database: str, evidence: GateEvidence
) -> None:
    rehearsal.require("present after re-apply")
    seen = _seen(rehearsal.member(database), "up again", expected, evidence)
    require(expected.problem_if_missing(seen))


@pytest.mark.order(11)
def test_backup_restores_baseline(rehearsal: Rehearsals, ephemeral_server: Server) -> None:
    """The backup taken before the release restores to the baseline schema."""
    rehearsal.require("backup restores baseline")
    restored: dict[str, str] = {}

    def load(member: Rehearsal) -> None:
        restored[member.key] = ephemeral_server.create_database("restored")
        restore(member.backup_path, restored[member.key])

    rehearsal.step("restore backup", load)
    changes = _changes(rehearsal, "restored", restored)
    require(
        changes
        and "expected the restored backup to equal the baseline; found " + "; ".join(changes)
    )


def _apply_release(rehearsal: Rehearsals, name: str) -> None:
    rehearsal.step(
        name,
        lambda member: up(
            member.dsn,
            member.files,
            ledger=member.runbook.migrations.ledger,
            log=member.log(name.replace(" ", "-")),
            echo=print,
            databases=member.databases,
            **run_options(member.runbook.migrations),
        ),
    )


def _seen(member: Rehearsal, phase: str, expected: Expected, evidence: GateEvidence) -> Catalog:
    """The schema after ``phase``, with what it says of ``expected`` recorded as evidence."""
    catalog = member.catalog(phase)
    evidence.extend(expected.evidence(catalog))
    return catalog
