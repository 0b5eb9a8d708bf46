"""One migration, whatever the layout it comes from: its up, down and verify scripts, how it
runs (in one transaction or not) and how the ledger knows it (its id and checksum)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.statements import Statement, check_statements, split_statements
from deploy_gates.spec.yamlsource import SpecError, decode, read_bytes

NUMBER_RUN = re.compile(r"(\d+)")
MAX_SCRIPT_BYTES = 64 << 20
"""The largest SQL file read: a migration, down or verify script, a changelog (64 MiB)."""


def natural_key(text: str) -> tuple:
    """Sort key that orders the digit runs of ``text`` as numbers: ``2_a`` before ``10_a``."""
    return tuple(int(part) if part.isdigit() else part for part in NUMBER_RUN.split(text))


@dataclass(frozen=True)
class Script:
    """SQL from a file: all of it, or a section that starts on file line ``line``."""

    path: Path
    text: str
    line: int = 1

    @property
    def label(self) -> str:
        """The file name, as messages name it."""
        return self.path.name

    def statements(self, *, transactional: bool) -> list[Statement]:
        """The statements with their file lines; refuse what the built-in executor cannot run
        (psql meta-commands, CREATE DATABASE, and in a transactional script transaction control)."""
        statements = [
            Statement(s.line + self.line - 1, s.text) for s in split_statements(self.text)
        ]
        check_statements(self.label, statements, transactional=transactional)
        return statements


def read_source(path: Path, kind: str, max_bytes: int = MAX_SCRIPT_BYTES) -> tuple[bytes, str]:
    """The bytes of the release file at ``path`` and its text (UTF-8, a byte order mark
    dropped): a regular file of at most ``max_bytes``; else a one-line MigrationError naming it
    (``kind`` says what the file is)."""
    try:
        data = read_bytes(path, kind, max_bytes)
        return data, decode(path, data, kind)
    except SpecError as exc:
        raise MigrationError(str(exc)) from None


def read_script(path: Path, kind: str = "migration script") -> Script:
    """The whole file at ``path`` as a script."""
    return Script(path, read_source(path, kind)[1])


def optional_script(path: Path, kind: str) -> Script | None:
    """The script at ``path``, None when there is nothing there (a FIFO, a folder or a dangling
    link there is refused, not taken for no script)."""
    return read_script(path, kind) if os.path.lexists(path) else None


def sha256(text: str) -> str:
    """The hex SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Migration:
    """One migration of a release, in apply order among its layout's migrations.

    ``name`` is how people and the spec refer to it (a file name, a change name); ``id`` is how
    its layout's ledger records it (the same file name, a version number, a change name);
    ``checksum`` is in that ledger's terms (None when the ledger keeps none).
    """

    name: str
    id: str
    layout: str
    up: Script
    down: Script | None = None
    verify: Script | None = None
    version: str = ""
    description: str = ""
    checksum: str | None = None
    transactional: bool = True
    repeatable: bool = False
    aliases: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    """What the layout's ledger also records (a sqitch change's project and planner, ...)."""

    @property
    def path(self) -> Path:
        """The file the up script is in."""
        return self.up.path

    @property
    def title(self) -> str:
        """The name, with the file it is in when the name does not say it
        (``dana:create-invoices (002-invoices.sql)``)."""
        label = self.up.label
        return self.name if self.name in label or label in self.name else f"{self.name} ({label})"

    def statements(self) -> list[Statement]:
        """The up script's statements with the file lines they start on."""
        return self.up.statements(transactional=self.transactional)

    def known_as(self, reference: str) -> bool:
        """True when ``reference`` (``--through``, ``--to``, ``migrations.baseline``) means this
        migration: its name, its ledger id, or the name of one of its files."""
        return reference in (self.name, self.id, self.up.label, *self.aliases)


def find(migrations: list[Migration], reference: str) -> int | None:
    """The position of the migration ``reference`` names, or None."""
    return next((i for i, m in enumerate(migrations) if m.known_as(reference)), None)


def down_script(migration: Migration, down_dir: Path | None) -> Script | None:
    """The down script of ``migration``: its layout's own, else ``down_dir/<name>`` (the
    numbered layout's folder of down scripts) when that file exists."""
    if migration.down is not None or down_dir is None:
        return migration.down
    return optional_script(down_dir / migration.name, "down script")
