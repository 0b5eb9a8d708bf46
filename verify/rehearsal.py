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
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.catalog import Catalog, snapshot
from deploy_gates.verify.expectations import Expected, expected_objects
from deploy_gates.verify.outcome import fail_gate
from deploy_gates.verify.release import discovery, split_at_baseline

T = TypeVar("T")
CREATE_EXTENSION = re.compile(
    r"^\s*CREATE\s+EXTENSION\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?([\w-]+)\"?",
    re.IGNORECASE | re.MULTILINE,
)


def release_expectations(runbook: Runbook) -> list[Expected]:
    """What the release adds (to a database): the spec's schema objects and the release's
    ledger entries."""
    release = split_at_baseline(runbook)[1] if runbook.migrations else []
    return expected_objects(runbook.expected, [f.name for f in release])


def layout_of_spec(runbook: Runbook) -> str:
    """The layout of the spec's migrations (as given, or detected)."""
    found = discovery(runbook)
    return found.layout if found else "numbered"


@dataclass
class Rehearsal:
    """One rehearsal: its database, the release's files, and what each step left for the next."""

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
    """Every migration of the system, in apply order."""
    baseline_fingerprint: dict[str, str] | None = None
    backup_path: Path | None = None
    catalogs: dict[str, Catalog] = field(default_factory=dict)

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

    def required_extensions(self) -> set[str]:
        """Extensions the spec names or any migration creates."""
        found = set(self.runbook.expected.extensions)
        for f in self.baseline_files + self.release_files:
            text = "\n".join(
                line for line in f.up.text.splitlines() if not line.lstrip().startswith("--")
            )
            found.update(m.lower() for m in CREATE_EXTENSION.findall(text))
        return found

    def catalog(self, phase: str, dsn: str | None = None) -> Catalog:
        """The schema after ``phase``, read once per phase (of ``dsn``, default the rehearsal's)."""
        if phase not in self.catalogs:
            with psycopg.connect(dsn or self.dsn, autocommit=True, connect_timeout=10) as conn:
                self.catalogs[phase] = snapshot(conn, self.runbook)
        return self.catalogs[phase]


@dataclass
class Rehearsals:
    """The rehearsal of every database of a system, in the spec's order; an action step that
    fails in one skips every later step, naming it."""

    members: list[Rehearsal]
    broken: str | None = None

    def member(self, key: str) -> Rehearsal:
        """The rehearsal of database ``key``."""
        return next(m for m in self.members if m.key == key)

    def step(
        self, name: str, action: Callable[[Rehearsal], T], *, reverse: bool = False
    ) -> list[T]:
        """Run an action step on each database (newest first with ``reverse``)."""
        __tracebackhide__ = True
        self.require(name)
        results = []
        for member in reversed(self.members) if reverse else self.members:
            label = f"{name} ({member.key})" if member.key else name
            try:
                results.append(action(member))
            except (MigrationError, psycopg.Error) as exc:
                self.broken = label
                fail_gate(f"{label}: {exc}")
            except BaseException:
                self.broken = label
                raise
        return results

    def require(self, name: str) -> None:
        """Skip a step when an earlier action step failed."""
        if self.broken:
            pytest.skip(f"{name}: not run, because rehearsal step {self.broken!r} failed")

    def required_extensions(self) -> set[str]:
        """Extensions any database's spec names or migrations create."""
        return set().union(*(m.required_extensions() for m in self.members))
