"""Migration folders as each tool lays them out: which layout a folder has, and its migrations in
apply order. One module per layout; each exposes a ``Layout``."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Protocol

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.migration import Migration

LAYOUTS = {
    "sqitch": "sqitch",
    "liquibase-sql": "liquibase_sql",
    "flyway": "flyway",
    "golang-migrate": "golang_migrate",
    "dbmate": "dbmate",
    "numbered": "numbered",
}
"""Layout name -> module, in the order detection asks them (``numbered`` is the fallback)."""


@dataclass(frozen=True)
class Options:
    """What the spec says about reading a folder beyond its layout."""

    allow_duplicate_versions: bool = False


@dataclass
class Discovery:
    """A folder's migrations in apply order, and every problem found on the way (each one line,
    in file name order); the migrations are usable only when there is none."""

    folder: Path
    layout: str
    detected: str | None = None
    migrations: list[Migration] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    """(version, what is odd but allowed) pairs, for advisory gates."""

    def describe(self) -> str:
        """``layout golang-migrate (detected: ...)`` or ``layout numbered (from the spec)``."""
        how = f"detected: {self.detected}" if self.detected else "from the spec"
        return f"layout {self.layout} ({how})"

    def require(self) -> list[Migration]:
        """The migrations; a MigrationError naming every problem when there is any."""
        if self.problems:
            count = f"{len(self.problems)} problems" if len(self.problems) > 1 else "1 problem"
            raise MigrationError(
                f"migrations folder {self.folder} ({self.layout} layout): {count}: "
                + "; ".join(self.problems)
            )
        return self.migrations


class Layout(Protocol):
    """How one tool lays out a migrations folder."""

    name: str
    ledger: str
    """The ledger format the tool keeps (``migrate.ledger.FORMATS``)."""

    def detect(self, folder: Path) -> str | None:
        """Why ``folder`` looks like this layout (shown in the run), or None."""

    def scan(self, folder: Path, options: Options) -> Discovery:
        """The folder's migrations in apply order, with every problem found."""


def layout(name: str) -> Layout:
    """The layout called ``name``."""
    return import_module(f"{__name__}.{LAYOUTS[name]}").LAYOUT


def detect(folder: Path) -> tuple[str, str]:
    """The layout of ``folder`` and why: the first layout (in ``LAYOUTS`` order) that claims it."""
    for name in LAYOUTS:
        reason = layout(name).detect(folder)
        if reason:
            return name, reason
    return "numbered", "no other tool's files"


def scan(
    folder: Path, name: str | None = None, *, allow_duplicate_versions: bool = False
) -> Discovery:
    """Read ``folder`` as layout ``name`` (detected when None); problems are collected, not
    raised, but a file that cannot be read is a MigrationError naming it."""
    if not folder.is_dir():
        return Discovery(folder, name or "numbered",
                         problems=[f"migrations directory {folder} does not exist"])
    reason = None
    if name is None:
        name, reason = detect(folder)
    found = layout(name).scan(folder, Options(allow_duplicate_versions))
    found.detected = reason
    return found


def discover(
    folder: Path, layout: str | None = None, *, allow_duplicate_versions: bool = False
) -> list[Migration]:
    """The migrations of ``folder`` in apply order; one MigrationError naming every problem."""
    found = scan(folder, layout, allow_duplicate_versions=allow_duplicate_versions)
    if found.problems and found.problems[0].startswith("migrations directory"):
        raise MigrationError(found.problems[0])
    return found.require()


def sql_files(folder: Path) -> list[Path]:
    """The ``.sql`` entries directly in ``folder`` but folders, by name (a FIFO or a dangling
    link among them is refused when read, not skipped)."""
    return sorted((p for p in folder.iterdir() if p.suffix == ".sql" and not p.is_dir()),
                  key=lambda p: p.name)
