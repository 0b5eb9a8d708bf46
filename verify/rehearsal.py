"""The state of one release rehearsal on a throwaway database, shared by its ordered steps."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest

from deploy_gates.migrate import Migration, MigrationError, MigrationLog
from deploy_gates.migrate.execute import StatementError
from deploy_gates.migrate.log import FileEvent
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.settings import settings_key
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.catalog import Catalog, snapshot
from deploy_gates.verify.datagen import DataReport
from deploy_gates.verify.expectations import Expected, expected_objects
from deploy_gates.verify.locks import LockProbe, LockSeen, one_line
from deploy_gates.verify.outcome import fail_gate
from deploy_gates.verify.release import discovery, split_at_baseline
from deploy_gates.verify.saferforms import tables_named
from deploy_gates.verify.stairs import STEPS, Stairs, State
from deploy_gates.verify.tabledata import present_in, read_contents

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)
CREATE_EXTENSION = re.compile(
    r"^\s*CREATE\s+EXTENSION\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?([\w-]+)\"?",
    re.IGNORECASE | re.MULTILINE,
)


def rehearsal_mode(config: pytest.Config, runbook: Runbook) -> str:
    """batch, stairs or both: ``--rehearsal-mode``, else the spec's ``rehearsal.mode``."""
    return config.stash[settings_key].rehearsal_mode or runbook.rehearsal.mode


def layout_of_spec(runbook: Runbook) -> str:
    """The layout of the spec's migrations (as given, or detected)."""
    found = discovery(runbook)
    return found.layout if found else "numbered"


def release_expectations(runbook: Runbook) -> list[Expected]:
    """What the release adds (to a database): the spec's schema objects and the release's
    ledger entries."""
    release = split_at_baseline(runbook)[1] if runbook.migrations else []
    return expected_objects(runbook.expected, [f.name for f in release])


@dataclass
class Rehearsal:
    """The rehearsal of one database: its database, the release's migrations, and what each
    step left for the next."""

    dsn: str
    runbook: Runbook
    report_dir: Path
    label: str
    scrub: Callable[[str], str]
    key: str = ""
    """The database of the system (``""`` for a spec with one)."""
    databases: dict[str, str] = field(default_factory=dict)
    """What a psql ``\\c`` may name -> DSN."""
    baseline_files: list[Migration] = field(default_factory=list)
    release_files: list[Migration] = field(default_factory=list)
    files: list[Migration] = field(default_factory=list)
    """Every migration of the database, in apply order."""
    baseline_fingerprint: dict[str, str] | None = None
    backup_path: Path | None = None
    states: dict[str, State] = field(default_factory=dict)
    readers: dict[str, psycopg.Connection] = field(default_factory=dict)
    data: DataReport = field(default_factory=DataReport)
    probe: LockProbe | None = None
    stairs: Stairs | None = None

    @classmethod
    def plan(
        cls, dsn: str, runbook: Runbook, report_dir: Path, label: str, scrub: Callable[[str], str],
        key: str = "", databases: dict[str, str] | None = None,
    ) -> Rehearsal:
        """The rehearsal of ``runbook``'s release (of database ``key``) on the empty database
        ``dsn``."""
        baseline, release = split_at_baseline(runbook)
        return cls(dsn, runbook, report_dir, f"{label}-{key}" if key else label, scrub, key,
                   databases or {}, baseline, release, discovery(runbook).require())

    @property
    def baseline_name(self) -> str | None:
        """The last migration deployed before the release (repeatable ones aside)."""
        versioned = [f for f in self.baseline_files if not f.repeatable]
        return versioned[-1].name if versioned else None

    def log(self, phase: str) -> MigrationLog:
        """A migration log in the report directory for one phase of the rehearsal."""
        return MigrationLog.create(self.report_dir, f"{self.label}-{phase}", self.scrub)

    def ignored_tables(self) -> frozenset[str]:
        """The baseline's ledger tables: bookkeeping, not schema, so no rows are generated
        for them."""
        catalog = self.catalog("baseline")
        ledger = catalog.ledger_table
        return frozenset(name for name in catalog.relations if ledger and ledger.owns(name))

    def required_extensions(self) -> set[str]:
        """Extensions the spec names or any migration creates."""
        found = set(self.runbook.expected.extensions)
        for f in self.baseline_files + self.release_files:
            text = "\n".join(
                line
                for line in f.up.text.splitlines()
                if not line.lstrip().startswith("--")
            )
            found.update(m.lower() for m in CREATE_EXTENSION.findall(text))
        return found

    def explain(self, exc: BaseException) -> str:
        """The error, and for a failed statement: the statement, and the rows of the baseline
        tables it met (how many, and PostgreSQL's detail, e.g. the failing row or key)."""
        text = str(exc)
        failed = _cause(exc, StatementError)
        if failed is None:
            return text
        text += f"; statement: {one_line(failed.statement.text)}"
        pg_error = _cause(exc, psycopg.Error)
        diag = pg_error.diag if pg_error else None
        named = f"{diag.schema_name}.{diag.table_name}" if diag and diag.table_name else None
        tables = [named] if named else tables_named(failed.statement.text)
        shapes = [f"{t} holds {self.data.rows(t)} rows" for t in tables if t in self.data.filled]
        if shapes:
            text += f"; on the populated baseline: {', '.join(shapes)}"
        if diag and diag.message_detail:
            text += f"; PostgreSQL: {one_line(diag.message_detail, 240)}"
        return text

    def catalog(self, phase: str, dsn: str | None = None) -> Catalog:
        """The schema after ``phase``, read once per phase (of ``dsn``, default the rehearsal's)."""
        return self.state(phase, dsn, rows=False).catalog

    def migration_row(self, name: str, seen: list[LockSeen]) -> dict:
        """The report's row of a release migration: its stairs, the locks it took on the
        baseline's tables, rewrite, time at N rows, rows kept by its down script."""
        status = self.stairs.status if self.stairs else {}
        locked = [lock.table for lock in seen] or list(self.data.tables)
        return {
            "migration": name,
            "stairs": {step: status.get((name, step), "not run") for step in STEPS},
            "locks": [lock.as_json() for lock in seen],
            "rewrite": any(lock.rewrite for lock in seen),
            "ms": round(self.probe.runs[name].ms, 2),
            "rows": max((self.data.rows(t) for t in locked), default=0),
            "data_preserved": self.stairs.data_preserved.get(name) if self.stairs else None,
        }

    def state(self, phase: str, dsn: str | None = None, *, rows: bool = True) -> State:
        """The schema after ``phase`` with its fingerprint and (with ``rows``) what the
        baseline's tables hold, read once per phase."""
        known = self.states.get(phase)
        if known is None or (rows and known.contents is None):
            conn = self.reader(dsn or self.dsn)
            catalog = known.catalog if known else snapshot(conn, self.runbook)
            present = present_in(catalog, self.data.tables)
            contents = read_contents(conn, self.data.tables, present) if rows else None
            known = State(catalog, catalog.fingerprint(), contents)
            self.states[phase] = known
        return known


    def reader(self, dsn: str) -> psycopg.Connection:
        """The connection the rehearsal reads ``dsn`` with, kept for the next reading (a new
        backend would rebuild its catalog caches after every migration)."""
        conn = self.readers.get(dsn)
        if conn is None or conn.closed:
            conn = self.readers[dsn] = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        return conn

    def close(self) -> None:
        """Close the reading connections."""
        for conn in self.readers.values():
            conn.close()
        self.readers.clear()


@dataclass
class Rehearsals:
    """The rehearsal of every database of a system, in the spec's order. An action step that
    fails in one skips every later step, naming it (a step of the batch rehearsal skips only the
    batch's later steps)."""

    members: list[Rehearsal]
    mode: str = "both"
    broken: str | None = None
    batch_broken: str | None = None

    @property
    def batch(self) -> bool:
        """Whether the batch rehearsal runs (up all, down all, up all)."""
        return self.mode in ("batch", "both")

    def member(self, key: str) -> Rehearsal:
        """The rehearsal of database ``key``."""
        return next(m for m in self.members if m.key == key)

    def step(
        self, name: str, action: Callable[[Rehearsal], T], *, batch: bool = False,
        reverse: bool = False,
    ) -> list[T]:
        """Run an action step on each database (newest first with ``reverse``)."""
        __tracebackhide__ = True
        self.require(name, batch=batch)
        results = []
        for member in reversed(self.members) if reverse else self.members:
            label = f"{name} ({member.key})" if member.key else name
            try:
                results.append(action(member))
            except (MigrationError, psycopg.Error) as exc:
                self.fail(label, batch=batch)
                fail_gate(f"{label}: {member.explain(exc)}")
            except BaseException:
                self.fail(label, batch=batch)
                raise
        return results

    def fail(self, name: str, *, batch: bool = False) -> None:
        """Mark action step ``name`` failed: the steps after it (of the batch) will skip."""
        if batch:
            self.batch_broken = name
        else:
            self.broken = name

    def require(self, name: str, *, batch: bool = False) -> None:
        """Skip a step when an earlier action step failed (of the batch, for a batch step)."""
        broken = self.broken or (self.batch_broken if batch else None)
        if broken:
            pytest.skip(f"{name}: not run, because rehearsal step {broken!r} failed")

    def required_extensions(self) -> set[str]:
        """Extensions any database's spec names or migrations create."""
        return set().union(*(m.required_extensions() for m in self.members))

    def close(self) -> None:
        """Close every database's reading connections."""
        for member in self.members:
            member.close()


def _cause(exc: BaseException | None, kind: type[E]) -> E | None:
    """The first exception of ``kind`` in ``exc``'s chain of causes."""
    while exc is not None and not isinstance(exc, kind):
        exc = exc.__cause__
    return exc


def progress_into(evidence: GateEvidence) -> Callable[[str], None]:
    """The migration runner's progress lines, printed (pytest shows them with a failure), and
    each file it applied or reverted as a row of the rehearsal timeline."""

    def echo(line: str) -> None:
        print(line)
        if event := FileEvent.parse(line):
            result = "passed" if event.ok else "failed"
            done = {"applying": "applied", "reverting": "reverted"}[event.verb] if event.ok else ""
            evidence.step(event.name, result, (event.ms or 0) / 1000,
                          done or f"{event.verb} failed")

    return echo
