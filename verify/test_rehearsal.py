"""The release rehearsal, in order: baseline, its data, backup; the batch (up, present, down, gone,
rows kept, up again, present); the stairs (up, down, up again per migration); the locks each
migration took; the backup restores.

Runs only on ephemeral targets. Each action step that fails skips the steps after it, naming it;
the stairs run on their own copy of the populated baseline, so a broken batch does not stop them.
A system with several databases has them all created first on the throwaway server (so that
they can reach each other), and each step runs on each database in the spec's order (the
rollback in reverse); the gates that check one database have its key in their id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict

import psycopg
import pytest

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.fixtures.ephemeral.server import providers_with
from deploy_gates.fixtures.targets import (
    Target,
    file_label,
    known_runbook,
    parametrize_per_database,
    parametrize_per_target,
    root_cause,
)
from deploy_gates.migrate import Migration, MigrationError, up
from deploy_gates.migrate.apply import run_options
from deploy_gates.migrate.execute import Watcher
from deploy_gates.redact import Redactor
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.reports.rehearsal_table import MIGRATION_EVIDENCE
from deploy_gates.rollback import backup, down, restore
from deploy_gates.settings import Settings, settings_key
from deploy_gates.spec.runbook import EphemeralTarget, Runbook
from deploy_gates.verify.catalog import Catalog, changes
from deploy_gates.verify.databases import connect_names, create_databases
from deploy_gates.verify.datagen import fill, read_tables
from deploy_gates.verify.expectations import Expected
from deploy_gates.verify.lockfile import artifact_path, build_lock, file_of, write
from deploy_gates.verify.locks import LockProbe
from deploy_gates.verify.outcome import fail_gate, require
from deploy_gates.verify.rehearsal import (
    Rehearsal,
    Rehearsals,
    layout_of_spec,
    progress_into,
    rehearsal_mode,
    release_expectations,
)
from deploy_gates.verify.release import migration_files, split_at_baseline
from deploy_gates.verify.seed import load_seed
from deploy_gates.verify.squawk import compare, squawk_report
from deploy_gates.verify.stairs import STEPS, Stairs
from deploy_gates.verify.tabledata import content_changes, quote_table
from deploy_gates.verify.verify_scripts import verified, verify_problem

pytestmark = [pytest.mark.rehearsal, pytest.mark.destructive]


def _release_names(spec: Runbook) -> list[str]:
    return [f.name for f in split_at_baseline(spec)[1]] if spec.migrations else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    runbook = known_runbook(metafunc.config)
    if "expected" in metafunc.fixturenames:
        names = metafunc.config.stash[settings_key].targets
        ephemeral = [n for n in names if isinstance(runbook.targets[n], EphemeralTarget)]
        # built for the ephemeral targets only: on a live one, every one would be refused
        if runbook.databases or not names:
            parametrize_per_database(metafunc, "expected", lambda spec: [
                (e.id, e) for e in release_expectations(spec)
            ] if ephemeral or not names else [])
        else:
            rows = [(e.id, e) for e in release_expectations(runbook)] if ephemeral else []
            parametrize_per_target(metafunc, "expected", lambda n: rows if n in ephemeral else [])
    if "verified_migration" in metafunc.fixturenames:
        parametrize_per_database(metafunc, "verified_migration", lambda spec: [
            (m.name, m) for m in verified(migration_files(spec))
        ])
    names = [f.name for f in split_at_baseline(runbook)[1]] if runbook.migrations else []
    if "stair" in metafunc.fixturenames:
        batch_only = rehearsal_mode(metafunc.config, runbook) == "batch"
        parametrize_per_database(metafunc, "stair", lambda spec: [] if batch_only else [
            (f"{name}:{step}", (name, step)) for name in _release_names(spec) for step in STEPS
        ])
    if "lock_migration" in metafunc.fixturenames:
        mark = pytest.mark.severity(runbook.rehearsal.locks.severity)
        if not runbook.databases:
            metafunc.parametrize("lock_migration", [
                pytest.param(name, id=name, marks=mark) for name in _release_names(runbook)
            ])
            return
        metafunc.parametrize(("database", "lock_migration"), [
            pytest.param(key, name, id=f"{key}/{name}", marks=mark)
            for key, spec in runbook.per_database() for name in _release_names(spec)
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
        ], rehearsal_mode(request.config, runbook))
    except (MigrationError, psycopg.Error) as exc:
        problem = str(exc)
    else:
        yield plan
        plan.close()
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


@pytest.mark.order(2)
def test_baseline(rehearsal: Rehearsals, evidence: GateEvidence) -> None:
    """Deploy what precedes the release and fingerprint the schema the release will meet."""

    def deploy(member: Rehearsal) -> None:
        if member.baseline_files:
            up(member.dsn, member.baseline_files, log=member.log("baseline"),
               ledger=member.runbook.migrations.ledger, echo=progress_into(evidence),
               databases=member.databases, **run_options(member.runbook.migrations))
        member.baseline_fingerprint = member.catalog("baseline").fingerprint()

    rehearsal.step("baseline", deploy)


@pytest.mark.order(3)
def test_baseline_data(
    rehearsal: Rehearsals, ephemeral_server: Server, evidence: GateEvidence
) -> None:
    """Fill the baseline's tables (the team's seed files, then generated rows), and give the
    stairs their own copy of it."""
    spec = rehearsal.members[0].runbook.rehearsal.data

    def populate(member: Rehearsal):
        if member is rehearsal.members[0]:
            for seed in spec.seed:
                load_seed(member.dsn, seed)
        ignored = member.ignored_tables()
        with psycopg.connect(member.dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SET synchronous_commit = off")
            member.data = fill(conn, read_tables(conn, ignored), spec.rows)

    rehearsal.step("baseline data", populate)
    for member in rehearsal.members:
        data, prefix = member.data, f"{member.key}: " if member.key else ""
        evidence.add(f"{prefix}rows per table ({data.ms:.0f} ms)",
                     "\n".join(f.describe() for f in data.filled.values()) or "(no tables)")
        if data.empty:
            evidence.add(f"{prefix}tables left empty", "\n".join(f.describe() for f in data.empty))
        member.probe = LockProbe(
            member.dsn,
            {table: quote_table(table) for table in data.tables},
            {table: data.rows(table) for table in data.tables},
        )
    starts = {member.key: member.state("baseline") for member in rehearsal.members}
    if rehearsal.mode == "batch":
        return
    rehearsal.close()  # nobody may be connected to the database the copy is made of

    def copy(member: Rehearsal) -> None:
        stairs_dsn = (ephemeral_server.create_database(
            f"stairs_{member.key}" if member.key else "stairs", copy_of=member.dsn)
            if rehearsal.batch else member.dsn)
        migrations = member.runbook.migrations

        def state(phase: str, rows: bool, member: Rehearsal = member, dsn: str = stairs_dsn):
            return member.state(phase, dsn, rows=rows)

        member.stairs = Stairs(
            stairs_dsn, member.files, member.release_files,
            migrations.down_dir, migrations.ledger, member.log("stairs"), member.data.tables,
            state, starts[member.key], release_expectations(member.runbook),
            watcher=None if rehearsal.batch else member.probe,
            options={"databases": member.databases, **run_options(migrations)},
        )

    rehearsal.step("copy for the stairs", copy)


@pytest.mark.order(4)
def test_backup(rehearsal: Rehearsals, tmp_path_factory: pytest.TempPathFactory) -> None:
    """pg_dump -Fc of the baseline, checked with pg_restore --list."""
    folder = tmp_path_factory.mktemp("backup")

    def take(member: Rehearsal) -> None:
        path = folder / f"baseline{'-' + member.key if member.key else ''}.dump"
        member.backup_path = backup(member.dsn, path).path

    rehearsal.step("backup", take)


@pytest.mark.order(5)
def test_migrate_up(
    rehearsal: Rehearsals, ephemeral_server: Server, runbook: Runbook, evidence: GateEvidence
) -> None:
    _batch(rehearsal, "migrate up")
    _apply_release(rehearsal, "migrate up", evidence, watch=True)
    major = ephemeral_server.version().split(".")[0]
    locks = {m.key: build_lock(m.runbook, m.catalog("baseline"), m.catalog("up"), major)
             for m in rehearsal.members}
    path = artifact_path(rehearsal.members[0].report_dir, runbook)
    write(file_of(runbook, locks), path)  # one entry per database of a system with several
    evidence.add("the release's schema", f"recorded in {path}")


@pytest.mark.order(6)
def test_present_after_up(
    rehearsal: Rehearsals, expected: Expected, database: str, evidence: GateEvidence
) -> None:
    _batch(rehearsal, "present after up")
    seen = _seen(rehearsal.member(database), "up", expected, evidence)
    require(expected.problem_if_missing(seen))


@pytest.mark.order(6)
def test_verified_after_up(
    rehearsal: Rehearsals, verified_migration: Migration, database: str
) -> None:
    """The migration's own verify script passes on the release."""
    _batch(rehearsal, "verified after up")
    dsn = rehearsal.member(database).dsn
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        require(verify_problem(conn, verified_migration))


@pytest.mark.order(7)
def test_migrate_down(rehearsal: Rehearsals, evidence: GateEvidence) -> None:
    _batch(rehearsal, "migrate down")

    def revert(member: Rehearsal) -> None:
        migrations = member.runbook.migrations
        if migrations.down_dir is None and layout_of_spec(member.runbook) == "numbered":
            raise MigrationError("the runbook spec names no migrations.down_dir")
        down(member.dsn, member.files, migrations.down_dir, to=member.baseline_name,
             ledger=migrations.ledger, log=member.log("down"), echo=progress_into(evidence),
             databases=member.databases, **run_options(migrations))

    rehearsal.step("migrate down", revert, batch=True, reverse=True)


@pytest.mark.order(8)
def test_absent_after_down(
    rehearsal: Rehearsals, expected: Expected, database: str, evidence: GateEvidence
) -> None:
    """Gone after rollback; an object the baseline already had (the release replaced it) is
    restored to its baseline definition instead."""
    _batch(rehearsal, "absent after down")
    member = rehearsal.member(database)
    baseline, after = member.catalog("baseline"), _seen(member, "down", expected, evidence)
    if expected.where(baseline) is not None:
        evidence.add("baseline", f"{expected.describe()} existed before the release: it must be "
                     "restored to its baseline definition")
    require(expected.problem_if_not_restored(baseline, after))


@pytest.mark.order(9)
def test_schema_restored(rehearsal: Rehearsals, evidence: GateEvidence) -> None:
    """After rollback the schema equals the baseline, object for object."""
    _batch(rehearsal, "schema restored")
    found = _changes(rehearsal, evidence, "down", "after rollback")
    require(
        found
        and "expected the schema after rollback to equal the baseline; found " + "; ".join(found)
    )


@pytest.mark.order(10)
def test_data_restored(rehearsal: Rehearsals, evidence: GateEvidence) -> None:
    """After rollback every baseline table holds the rows it held before the release."""
    _batch(rehearsal, "data restored")
    found = []
    for member in rehearsal.members:
        before, after = member.state("baseline"), member.state("down")
        prefix = f"{member.key}: " if member.key else ""
        found += [prefix + c for c in content_changes(before.contents, after.contents)]
    evidence.add("rows after rollback", "\n".join(found) or "every baseline table holds its rows")
    require(
        found
        and "expected every baseline table to hold the rows it held before the release; found "
        + "; ".join(found)
    )


@pytest.mark.order(11)
def test_migrate_up_again(rehearsal: Rehearsals, evidence: GateEvidence) -> None:
    _batch(rehearsal, "migrate up again")
    _apply_release(rehearsal, "migrate up again", evidence)


@pytest.mark.order(12)
def test_present_after_reapply(
    rehearsal: Rehearsals, expected: Expected, database: str, evidence: GateEvidence
) -> None:
    _batch(rehearsal, "present after re-apply")
    seen = _seen(rehearsal.member(database), "up again", expected, evidence)
    require(expected.problem_if_missing(seen))


@pytest.mark.order(13)
def test_stair(
    rehearsal: Rehearsals, stair: tuple[str, str], database: str, evidence: GateEvidence
) -> None:
    """One stair of one migration: up (and its objects), down (schema and rows as found), or
    up again (the schema its first run gave)."""
    name, step = stair
    rehearsal.require(f"stair {step} of {name}")
    member = rehearsal.member(database)
    stairs = member.stairs
    if stairs.broken:
        pytest.skip(f"stair {step} of {name}: not run, because stair {stairs.broken!r} failed")
    try:
        problem, entries = stairs.run(name, step)
    except (MigrationError, psycopg.Error) as exc:
        stairs.broken = f"{name}:{step}"
        stairs.status[stair] = "failed"
        fail_gate(f"stair {step}: {member.explain(exc)}")
    evidence.extend(entries)
    stairs.status[stair] = "failed" if problem else "passed"
    require(problem)


@pytest.mark.order(14)
def test_locks(
    rehearsal: Rehearsals, lock_migration: str, database: str, evidence: GateEvidence,
    pytestconfig: pytest.Config,
) -> None:
    """The locks a migration took on the baseline's tables (the ones with production traffic),
    measured on the populated baseline, and its time per statement."""
    name, member = lock_migration, rehearsal.member(database)
    run = member.probe.runs.get(name) if member.probe else None
    if run is None or run.committed is None:
        pytest.skip(f"locks of {name}: not measured, because it did not run to its end in the "
                    "rehearsal")
    seen = member.probe.seen(name, catalog_only=member.runbook.rehearsal.locks.catalog_only)
    evidence.add(f"statements ({run.ms:.1f} ms)", "\n".join(
        f"line {s.line}: {s.ms:.1f} ms, rows of baseline tables processed: "
        f"{'unknown' if s.rows is None else s.rows}; {s.text}" for s in run.statements))
    evidence.add("locks taken", "\n".join(lock.evidence() for lock in seen)
                 or "no lock on a baseline table")
    flagged = [lock for lock in seen if lock.flagged]
    file = next(f for f in member.release_files if f.name == name)
    ranges = [(s.line, s.line + s.text.count("\n")) for s in file.statements()]
    report = squawk_report(pytestconfig, member.runbook)
    compared = compare(report, name, flagged, ranges, transactional=file.transactional)
    evidence.add("squawk and measured", "\n".join(compared))
    evidence.add(MIGRATION_EVIDENCE, json.dumps(member.migration_row(name, seen)))
    require(flagged and "expected no lock that blocks reads or writes on a baseline table; found "
            + "; ".join(lock.problem() for lock in flagged))


@pytest.mark.order(15)
def test_backup_restores_baseline(
    rehearsal: Rehearsals, ephemeral_server: Server, evidence: GateEvidence
) -> None:
    """The backup taken before the release restores to the baseline schema and rows."""
    rehearsal.require("backup restores baseline")
    restored: dict[str, str] = {}

    def load(member: Rehearsal) -> None:
        restored[member.key] = ephemeral_server.create_database("restored")
        restore(member.backup_path, restored[member.key])

    rehearsal.step("restore backup", load)
    found = _changes(rehearsal, evidence, "restored", "restored backup", restored)
    for member in rehearsal.members:
        prefix = f"{member.key}: " if member.key else ""
        baseline = member.state("baseline")
        after = member.state("restored", restored[member.key])
        found += [prefix + c for c in content_changes(baseline.contents, after.contents)]
    require(
        found
        and "expected the restored backup to equal the baseline; found " + "; ".join(found)
    )


def _batch(rehearsal: Rehearsals, name: str) -> None:
    """Skip a step of the batch rehearsal when it is off, or when an earlier step failed."""
    if not rehearsal.batch:
        pytest.skip(f"{name}: rehearsal mode is {rehearsal.mode}: the batch rehearsal is off")
    rehearsal.require(name, batch=True)


def _apply_release(
    rehearsal: Rehearsals, name: str, evidence: GateEvidence, *, watch: bool = False
) -> None:
    def apply(member: Rehearsal) -> None:
        watcher: Watcher | None = member.probe if watch else None
        up(member.dsn, member.files, ledger=member.runbook.migrations.ledger,
           log=member.log(name.replace(" ", "-")), echo=progress_into(evidence),
           databases=member.databases, watcher=watcher, **run_options(member.runbook.migrations))

    rehearsal.step(name, apply, batch=True)


def _changes(
    rehearsal: Rehearsals, evidence: GateEvidence, phase: str, name: str,
    dsns: dict[str, str] | None = None,
) -> list[str]:
    """Every difference between each database's baseline and its schema after ``phase``,
    recorded for the report's side-by-side view; one line each for the message."""
    found = []
    for member in rehearsal.members:
        after = member.catalog(phase, (dsns or {}).get(member.key)).fingerprint()
        prefix = f"{member.key}: " if member.key else ""
        found += [prefix + c for c in _compared(evidence, member.baseline_fingerprint, after,
                                                f"{prefix}{name}")]
    return found


def _compared(
    evidence: GateEvidence, baseline: dict[str, str], found: dict[str, str], name: str
) -> list[str]:
    """The differences between the baseline and ``found`` schema, recorded for the report's
    side-by-side view; one line each for the message."""
    differences = changes(baseline, found)
    evidence.schema_diff(f"baseline against the {name}", "baseline", name,
                         [asdict(c) for c in differences])
    return [f"{c.change}: {c.object}" for c in differences]


def _seen(member: Rehearsal, phase: str, expected: Expected, evidence: GateEvidence) -> Catalog:
    """The schema after ``phase``, with what it says of ``expected`` recorded as evidence."""
    catalog = member.catalog(phase)
    evidence.extend(expected.evidence(catalog))
    return catalog
