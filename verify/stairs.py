"""The stairway: each release migration in order is applied, checked, rolled back (the schema and
the baseline's rows must be as it found them), and applied again, so that a failure names the
migration whose down script is wrong."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from deploy_gates.migrate import Migration, MigrationError, MigrationLog, up
from deploy_gates.migrate.execute import Watcher
from deploy_gates.rollback import down
from deploy_gates.spec.runbook import Ledger
from deploy_gates.verify.catalog import Catalog, diff
from deploy_gates.verify.expectations import Expected
from deploy_gates.verify.locks import one_line
from deploy_gates.verify.tabledata import ContentWatch, TableContent, table_changes

STEPS = ("up", "down", "reapply")


@dataclass(frozen=True)
class State:
    """The database after one step: its schema snapshot, fingerprint and baseline rows."""

    catalog: Catalog
    fingerprint: dict[str, str]
    contents: dict[str, TableContent | None] | None


Reader = Callable[[str, bool], State]
"""Reads the state after a named phase (with the baseline's rows when asked)."""


@dataclass
class Stairs:
    """The stairway on its own database, started from the populated baseline ``start``."""

    dsn: str
    files: list[Migration]
    release: list[Migration]
    down_dir: Path | None
    ledger: Ledger
    log: MigrationLog
    tables: dict[str, list[str]]
    read: Reader
    start: State
    expected: list[Expected]
    watcher: Watcher | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """How ``up`` and ``down`` run the scripts (executor, single_transaction, databases)."""
    status: dict[tuple[str, str], str] = field(default_factory=dict)
    data_preserved: dict[str, bool] = field(default_factory=dict)
    before: dict[str, State] = field(default_factory=dict)
    after_up: dict[str, State] = field(default_factory=dict)
    broken: str | None = None

    def steps(self) -> list[tuple[str, str]]:
        """Every stair in the order it runs: (migration, step)."""
        return [(f.name, step) for f in self.release for step in STEPS]

    def run(self, name: str, step: str) -> tuple[str | None, list[tuple[str, str]]]:
        """Take one stair; the problem found (None when it is right) and its evidence. A failed
        action raises MigrationError (or psycopg.Error)."""
        return {"up": self._up, "down": self._down, "reapply": self._reapply}[step](name)

    def _file(self, name: str) -> Migration:
        return next(f for f in self.release if f.name == name)

    def _previous(self, name: str) -> str | None:
        names = [f.name for f in self.files]
        index = names.index(name)
        return names[index - 1] if index else None

    def _before(self, name: str) -> State:
        index = [f.name for f in self.release].index(name)
        if index == 0:
            return self.start
        return self.before.get(f"{self.release[index - 1].name}:after") or self.start

    def _up(self, name: str) -> tuple[str | None, list[tuple[str, str]]]:
        before = self._before(name)
        self.before[name] = before
        up(self.dsn, self.files, through=name, ledger=self.ledger, log=self.log,
           watcher=self.watcher, **self.options)
        after = self.read(f"stairs {name} up", False)
        self.after_up[name] = after
        evidence = [("what it changed", "\n".join(_changes(before, after)) or "(no schema change)")]
        problems = []
        recorded = after.catalog.ledger or {}  # None: recorded, the ledger keeps no success
        if name not in recorded or recorded[name] is False:
            problems.append(f"the ledger does not record {name} as applied")
        if name == self.release[-1].name:
            problems += [p for e in self.expected if (p := e.problem_if_missing(after.catalog))]
        return "; ".join(problems) or None, evidence

    def _down(self, name: str) -> tuple[str | None, list[tuple[str, str]]]:
        before = self.before[name]
        if self.down_dir is None and self.files[0].layout == "numbered":
            raise MigrationError("the runbook spec names no migrations.down_dir")
        watches: list[ContentWatch] = []

        def watcher(conn: psycopg.Connection, _: Migration) -> ContentWatch:
            watches.append(ContentWatch(conn, self.tables, before.contents or {}))
            return watches[-1]

        down(self.dsn, self.files, self.down_dir, to=self._previous(name),
             ledger=self.ledger, log=self.log, watcher=watcher, **self.options)
        after = self.read(f"stairs {name} down", True)
        schema = diff(before.fingerprint, after.fingerprint)
        first = watches[0].first if watches else {}
        rows = [
            f"{table}: {change}" + (
                f", first changed by its line {first[table].line} {one_line(first[table].text)}"
                if table in first else ""
            )
            for table, change in table_changes(before.contents or {}, after.contents or {}).items()
        ]
        self.data_preserved[name] = not rows
        problems = []
        if schema:
            problems.append(f"expected the down script of {name} to restore the schema it found; "
                            f"found {'; '.join(schema)}")
        if rows:
            problems.append(f"expected the down script of {name} to leave the rows it found; "
                            f"found {'; '.join(rows)}")
        if name in (after.catalog.ledger or {}):
            problems.append(f"expected no ledger entry for {name} after its down script; found one")
        evidence = [("rows after down", "\n".join(rows) or "every baseline table holds its rows")]
        return "; ".join(problems) or None, evidence

    def _reapply(self, name: str) -> tuple[str | None, list[tuple[str, str]]]:
        up(self.dsn, self.files, through=name, ledger=self.ledger, log=self.log, **self.options)
        after = self.read(f"stairs {name} reapply", True)
        self.before[f"{name}:after"] = after
        changes = diff(self.after_up[name].fingerprint, after.fingerprint)
        if not changes:
            return None, []
        return (f"expected re-applying {name} to give the schema its first run gave; found "
                + "; ".join(changes)), []


def _changes(before: State, after: State) -> list[str]:
    """What a migration added, removed and changed in the schema."""
    old, new = before.fingerprint, after.fingerprint
    return (
        [f"added: {k}" for k in sorted(new.keys() - old.keys())]
        + [f"removed: {k}" for k in sorted(old.keys() - new.keys())]
        + [f"changed: {k}" for k in sorted(old.keys() & new.keys()) if old[k] != new[k]]
    )
