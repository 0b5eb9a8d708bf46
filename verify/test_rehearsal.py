"""The release rehearsal, in order: baseline, its data, backup; the batch (up, present, down, gone,
rows kept, up again, present); the stairs (up, down, up again per migration); the locks each
migration took; the backup restores.

Runs only on ephemeral targets. Each action step that fails skips the steps after it, naming it;
the stairs run on their own copy of the populated baseline, so a broken batch does not stop them.
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
    parametrize_per_target,
)
from deploy_gates.migrate import MigrationError, up
from deploy_gates.migrate.execute import Watcher
from deploy_gates.redact import Redactor
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.reports.rehearsal_table import MIGRATION_EVIDENCE
from deploy_gates.rollback import backup, down, restore
from deploy_gates.settings import Settings, settings_key
from deploy_gates.spec.runbook import EphemeralTarget, Runbook
from deploy_gates.verify.catalog import Catalog, changes
from deploy_gates.verify.datagen import fill, read_tables
from deploy_gates.verify.expectations import Expected
from deploy_gates.verify.lockfile import artifact_path, build_lock, write
from deploy_gates.verify.locks import LockProbe
from deploy_gates.verify.outcome import fail_gate, require
from deploy_gates.verify.rehearsal import (
    Rehearsal,
    progress_into,
    rehearsal_mode,
    release_expectations,
)
from deploy_gates.verify.release import split_at_baseline
from deploy_gates.verify.seed import load_seed
from deploy_gates.verify.squawk import compare, squawk_report
from deploy_gates.verify.stairs import STEPS, Stairs
from deploy_gates.verify.tabledata import content_changes, quote_table

pytestmark = [pytest.mark.rehearsal, pytest.mark.destructive]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    runbook = known_runbook(metafunc.config)
    if "expected" in metafunc.fixturenames:
        names = metafunc.config.stash[settings_key].targets
        ephemeral = [n for n in names if isinstance(runbook.targets[n], EphemeralTarget)]
        rows = [(e.id, e) for e in release_expectations(runbook)] if ephemeral or not names else []
        if not names:
            metafunc.parametrize("expected", [e for _, e in rows], ids=[i for i, _ in rows])
        else:
            # built for the ephemeral targets only: on a live one, every one would be refused
            parametrize_per_target(metafunc, "expected", lambda n: rows if n in ephemeral else [])
    names = [f.name for f in split_at_baseline(runbook)[1]] if runbook.migrations else []
    if "stair" in metafunc.fixturenames:
        batch_only = rehearsal_mode(metafunc.config, runbook) == "batch"
        stairs = [] if batch_only else [(name, step) for name in names for step in STEPS]
        metafunc.parametrize("stair", stairs, ids=[f"{name}:{step}" for name, step in stairs])
    if "lock_migration" in metafunc.fixturenames:
        mark = pytest.mark.severity(runbook.rehearsal.locks.severity)
        metafunc.parametrize(
            "lock_migration", [pytest.param(name, id=name, marks=mark) for name in names]
        )


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
    rehearsal = Rehearsal.plan(
        dsn, runbook, deploy_settings.report_dir, file_label(request.config, target.name),
        redactor, rehearsal_mode(request.config, runbook),
    )
    yield rehearsal
    rehearsal.close()


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
def test_baseline(rehearsal: Rehearsal, evidence: GateEvidence) -> None:
    """Deploy what precedes the release and fingerprint the schema the release will meet."""
    files = rehearsal.baseline_files
    if files:
        rehearsal.step(
            "baseline",
            lambda: up(
                rehearsal.dsn,
                files,
                through=files[-1].name,
                log=rehearsal.log("baseline"),
                ledger=rehearsal.runbook.migrations.ledger,
                echo=progress_into(evidence),
            ),
        )
    rehearsal.baseline_fingerprint = rehearsal.catalog("baseline").fingerprint()


@pytest.mark.order(3)
def test_baseline_data(
    rehearsal: Rehearsal, ephemeral_server: Server, evidence: GateEvidence
) -> None:
    """Fill the baseline's tables (the team's seed files, then generated rows), and give the
    stairs their own copy of it."""
    spec = rehearsal.runbook.rehearsal.data

    def populate():
        for seed in spec.seed:
            load_seed(rehearsal.dsn, seed)
        with psycopg.connect(rehearsal.dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SET synchronous_commit = off")
            return fill(conn, read_tables(conn, rehearsal.ignored_tables), spec.rows)

    rehearsal.data = rehearsal.step("baseline data", populate)
    data = rehearsal.data
    evidence.add(f"rows per table ({data.ms:.0f} ms)",
                 "\n".join(f.describe() for f in data.filled.values()) or "(no tables)")
    if data.empty:
        evidence.add("tables left empty", "\n".join(f.describe() for f in data.empty))
    start = rehearsal.state("baseline")
    rehearsal.probe = LockProbe(
        rehearsal.dsn,
        {table: quote_table(table) for table in data.tables},
        {table: data.rows(table) for table in data.tables},
    )
    if rehearsal.mode == "batch":
        return
    rehearsal.close()  # nobody may be connected to the database the copy is made of
    stairs_dsn = rehearsal.step(
        "copy for the stairs",
        lambda: ephemeral_server.create_database("stairs", copy_of=rehearsal.dsn)
        if rehearsal.batch else rehearsal.dsn,
    )
    migrations = rehearsal.runbook.migrations
    rehearsal.stairs = Stairs(
        stairs_dsn, rehearsal.baseline_files + rehearsal.release_files, rehearsal.release_files,
        migrations.down_dir, migrations.ledger, rehearsal.log("stairs"), data.tables,
        lambda phase, rows: rehearsal.state(phase, stairs_dsn, rows=rows), start,
        release_expectations(rehearsal.runbook),
        watcher=None if rehearsal.batch else rehearsal.probe,
    )


@pytest.mark.order(4)
def test_backup(rehearsal: Rehearsal, tmp_path_factory: pytest.TempPathFactory) -> None:
    """pg_dump -Fc of the baseline, checked with pg_restore --list."""
    path = tmp_path_factory.mktemp("backup") / "baseline.dump"
    info = rehearsal.step("backup", lambda: backup(rehearsal.dsn, path))
    rehearsal.backup_path = info.path


@pytest.mark.order(5)
def test_migrate_up(rehearsal: Rehearsal, ephemeral_server: Server, evidence: GateEvidence) -> None:
    _batch(rehearsal, "migrate up")
    _apply_release(rehearsal, "migrate up", evidence, rehearsal.probe)
    path = artifact_path(rehearsal.report_dir, rehearsal.runbook)
    major = ephemeral_server.version().split(".")[0]
    write(build_lock(rehearsal.runbook, rehearsal.catalog("baseline"), rehearsal.catalog("up"),
                     major), path)
    evidence.add("the release's schema", f"recorded in {path}")


@pytest.mark.order(6)
def test_present_after_up(
    rehearsal: Rehearsal, expected: Expected, evidence: GateEvidence
) -> None:
    _batch(rehearsal, "present after up")
    require(expected.problem_if_missing(_seen(rehearsal, "up", expected, evidence)))


@pytest.mark.order(7)
def test_migrate_down(rehearsal: Rehearsal, evidence: GateEvidence) -> None:
    _batch(rehearsal, "migrate down")
    migrations = rehearsal.runbook.migrations
    if migrations.down_dir is None:
        rehearsal.fail("migrate down", batch=True)
        fail_gate("migrate down: the runbook spec names no migrations.down_dir")
    to = rehearsal.baseline_files[-1].name if rehearsal.baseline_files else None
    rehearsal.step(
        "migrate down",
        lambda: down(
            rehearsal.dsn,
            rehearsal.baseline_files + rehearsal.release_files,
            migrations.down_dir,
            to=to,
            ledger=migrations.ledger,
            log=rehearsal.log("down"),
            echo=progress_into(evidence),
        ),
        batch=True,
    )


@pytest.mark.order(8)
def test_absent_after_down(
    rehearsal: Rehearsal, expected: Expected, evidence: GateEvidence
) -> None:
    _batch(rehearsal, "absent after down")
    require(expected.problem_if_present(_seen(rehearsal, "down", expected, evidence)))


@pytest.mark.order(9)
def test_schema_restored(rehearsal: Rehearsal, evidence: GateEvidence) -> None:
    """After rollback the schema equals the baseline, object for object."""
    _batch(rehearsal, "schema restored")
    after = rehearsal.catalog("down").fingerprint()
    found = _compared(evidence, rehearsal.baseline_fingerprint, after, "after rollback")
    require(
        found
        and "expected the schema after rollback to equal the baseline; found " + "; ".join(found)
    )


@pytest.mark.order(10)
def test_data_restored(rehearsal: Rehearsal, evidence: GateEvidence) -> None:
    """After rollback every baseline table holds the rows it held before the release."""
    _batch(rehearsal, "data restored")
    before, after = rehearsal.state("baseline"), rehearsal.state("down")
    changes = content_changes(before.contents, after.contents)
    evidence.add("rows after rollback", "\n".join(changes) or "every baseline table holds its rows")
    require(
        changes
        and "expected every baseline table to hold the rows it held before the release; found "
        + "; ".join(changes)
    )


@pytest.mark.order(11)
def test_migrate_up_again(rehearsal: Rehearsal, evidence: GateEvidence) -> None:
    _batch(rehearsal, "migrate up again")
    _apply_release(rehearsal, "migrate up again", evidence)


@pytest.mark.order(12)
def test_present_after_reapply(
    rehearsal: Rehearsal, expected: Expected, evidence: GateEvidence
) -> None:
    _batch(rehearsal, "present after re-apply")
    require(expected.problem_if_missing(_seen(rehearsal, "up again", expected, evidence)))


@pytest.mark.order(13)
def test_stair(rehearsal: Rehearsal, stair: tuple[str, str], evidence: GateEvidence) -> None:
    """One stair of one migration: up (and its objects), down (schema and rows as found), or
    up again (the schema its first run gave)."""
    name, step = stair
    rehearsal.require(f"stair {step} of {name}")
    stairs = rehearsal.stairs
    if stairs.broken:
        pytest.skip(f"stair {step} of {name}: not run, because stair {stairs.broken!r} failed")
    try:
        problem, entries = stairs.run(name, step)
    except (MigrationError, psycopg.Error) as exc:
        stairs.broken = f"{name}:{step}"
        stairs.status[stair] = "failed"
        fail_gate(f"stair {step}: {rehearsal.explain(exc)}")
    evidence.extend(entries)
    stairs.status[stair] = "failed" if problem else "passed"
    require(problem)


@pytest.mark.order(14)
def test_locks(
    rehearsal: Rehearsal, lock_migration: str, evidence: GateEvidence, pytestconfig: pytest.Config
) -> None:
    """The locks a migration took on the baseline's tables (the ones with production traffic),
    measured on the populated baseline, and its time per statement."""
    name = lock_migration
    run = rehearsal.probe.runs.get(name) if rehearsal.probe else None
    if run is None or run.committed is None:
        pytest.skip(f"locks of {name}: not measured, because it did not run to its end in the "
                    "rehearsal")
    seen = rehearsal.probe.seen(name, catalog_only=rehearsal.runbook.rehearsal.locks.catalog_only)
    evidence.add(f"statements ({run.ms:.1f} ms)", "\n".join(
        f"line {s.line}: {s.ms:.1f} ms, rows of baseline tables processed: "
        f"{'unknown' if s.rows is None else s.rows}; {s.text}" for s in run.statements))
    evidence.add("locks taken", "\n".join(lock.evidence() for lock in seen)
                 or "no lock on a baseline table")
    flagged = [lock for lock in seen if lock.flagged]
    file = next(f for f in rehearsal.release_files if f.name == name)
    ranges = [(s.line, s.line + s.text.count("\n")) for s in file.statements()]
    report = squawk_report(pytestconfig, rehearsal.runbook)
    compared = compare(report, name, flagged, ranges, transactional=file.transactional)
    evidence.add("squawk and measured", "\n".join(compared))
    evidence.add(MIGRATION_EVIDENCE, json.dumps(rehearsal.migration_row(name, seen)))
    require(flagged and "expected no lock that blocks reads or writes on a baseline table; found "
            + "; ".join(lock.problem() for lock in flagged))


@pytest.mark.order(15)
def test_backup_restores_baseline(
    rehearsal: Rehearsal, ephemeral_server: Server, evidence: GateEvidence
) -> None:
    """The backup taken before the release restores to the baseline schema and rows."""
    rehearsal.require("backup restores baseline")
    target_dsn = ephemeral_server.create_database("restored")
    rehearsal.step("restore backup", lambda: restore(rehearsal.backup_path, target_dsn))
    restored = rehearsal.state("restored", target_dsn)
    baseline = rehearsal.state("baseline")
    changes = _compared(evidence, rehearsal.baseline_fingerprint, restored.fingerprint,
                        "restored backup")
    changes += content_changes(baseline.contents, restored.contents)
    require(
        changes
        and "expected the restored backup to equal the baseline; found " + "; ".join(changes)
    )


def _batch(rehearsal: Rehearsal, name: str) -> None:
    """Skip a step of the batch rehearsal when it is off, or when an earlier step failed."""
    if not rehearsal.batch:
        pytest.skip(f"{name}: rehearsal mode is {rehearsal.mode}: the batch rehearsal is off")
    rehearsal.require(name, batch=True)


def _apply_release(
    rehearsal: Rehearsal, name: str, evidence: GateEvidence, watcher: Watcher | None = None
) -> None:
    rehearsal.step(
        name,
        lambda: up(
            rehearsal.dsn,
            rehearsal.baseline_files + rehearsal.release_files,
            ledger=rehearsal.runbook.migrations.ledger,
            log=rehearsal.log(name.replace(" ", "-")),
            echo=progress_into(evidence),
            watcher=watcher,
        ),
        batch=True,
    )


def _compared(
    evidence: GateEvidence, baseline: dict[str, str], found: dict[str, str], name: str
) -> list[str]:
    """The differences between the baseline and ``found`` schema, recorded for the report's
    side-by-side view; one line each for the message."""
    differences = changes(baseline, found)
    evidence.schema_diff(f"baseline against the {name}", "baseline", name,
                         [asdict(c) for c in differences])
    return [f"{c.change}: {c.object}" for c in differences]


def _seen(rehearsal: Rehearsal, phase: str, expected: Expected, evidence: GateEvidence) -> Catalog:
    """The schema after ``phase``, with what it says of ``expected`` recorded as evidence."""
    catalog = rehearsal.catalog(phase)
    evidence.extend(expected.evidence(catalog))
    return catalog
